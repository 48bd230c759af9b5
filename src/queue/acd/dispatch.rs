//! Dispatch: the service order of each queue (strict lane first, then aging priority) and
//! pairing waiting callers with ready agents: the strict classes' agent cap (never holding an
//! idle agent back), the longest-idle eligible agent, routing widening, and the offer.
//!
//! Part of the sans-IO ACD core: it must not read a clock or do I/O; `now` is an argument.
//! Ties are broken by sequence numbers, never by chance, so the same inputs give the same
//! offers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use super::agent_states::{Agent, Work};
use super::callers::Entry;
use super::{Acd, Queue};
use crate::ids::{AgentId, QueueId};
use crate::queue::event::{AcdAction, AgentState, DispatchRule, Offer, OfferReason};
use crate::queue::timers::Timer;

/// Ordering of a waiting caller inside its queue; smaller is served first.
#[derive(Debug, Clone, Copy)]
pub(super) enum Rank {
    Strict { class: usize, seq: u64 },
    Aging { score: f64, seq: u64 },
}

impl Rank {
    pub(super) fn cmp(&self, other: &Rank) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        match (self, other) {
            (Rank::Strict { class: a, seq: sa }, Rank::Strict { class: b, seq: sb }) => {
                a.cmp(b).then(sa.cmp(sb))
            }
            (Rank::Strict { .. }, Rank::Aging { .. }) => Ordering::Less,
            (Rank::Aging { .. }, Rank::Strict { .. }) => Ordering::Greater,
            (Rank::Aging { score: a, seq: sa }, Rank::Aging { score: b, seq: sb }) => {
                b.total_cmp(a).then(sa.cmp(sb))
            }
        }
    }
}

/// A caller and an agent dispatch could pair.
#[derive(Debug)]
struct Candidate {
    seq: u64,
    agent: AgentId,
    rule: DispatchRule,
    skills_matched: Vec<(String, u8)>,
    widened: bool,
    /// 0: strict within cap, 1: aging class, 2: strict over cap.
    tier: u8,
    joined: Instant,
}

impl Candidate {
    fn key(&self) -> (u8, Instant, u64) {
        (self.tier, self.joined, self.seq)
    }
}

impl Acd {
    /// Offers waiting callers to ready agents until no pair is left.
    pub(super) fn dispatch(&mut self, now: Instant) {
        let mut orders: BTreeMap<QueueId, Vec<u64>> = BTreeMap::new();
        loop {
            let mut ready: Vec<(u64, &AgentId, &Agent)> = self
                .agents
                .iter()
                .filter(|(_, a)| a.state == AgentState::Ready)
                .map(|(id, a)| (a.ready_seq, id, a))
                .collect();
            if ready.is_empty() {
                return;
            }
            ready.sort_by_key(|(seq, id, _)| (*seq, *id));
            let load = self.load();
            let mut best: Option<Candidate> = None;
            for (qid, q) in &self.queues {
                if q.waiting.is_empty() {
                    continue;
                }
                let here: Vec<(&AgentId, &Agent)> = ready
                    .iter()
                    .filter(|(_, _, a)| a.queues.contains(qid))
                    .map(|(_, id, a)| (*id, *a))
                    .collect();
                if here.is_empty() {
                    continue;
                }
                let order = orders
                    .entry(qid.clone())
                    .or_insert_with(|| self.order(qid, now));
                if let Some(c) = self.best_pair(q, order, &here, &load, now)
                    && best.as_ref().is_none_or(|b| c.key() < b.key())
                {
                    best = Some(c);
                }
            }
            let Some(candidate) = best else {
                return;
            };
            self.make_offer(candidate, now);
        }
    }

    /// Agents logged in per queue, and agents offered or busy per strict (queue, class).
    fn load(&self) -> Load {
        let mut load = Load::default();
        for a in self.agents.values() {
            if a.state == AgentState::LoggedOut {
                continue;
            }
            for q in &a.queues {
                *load.logged_in.entry(q.clone()).or_default() += 1;
            }
            if let Some(w) = &a.work
                && w.strict
                && matches!(
                    a.state,
                    AgentState::Offered { .. } | AgentState::Busy { .. }
                )
            {
                *load.strict.entry((w.queue.clone(), w.class)).or_default() += 1;
            }
        }
        load
    }

    /// The first caller of this queue, in order, that a ready agent can take.
    fn best_pair(
        &self,
        q: &Queue,
        order: &[u64],
        ready: &[(&AgentId, &Agent)],
        load: &Load,
        now: Instant,
    ) -> Option<Candidate> {
        let logged_in = load.logged_in.get(&q.cfg.id).copied().unwrap_or(0);
        let mut deferred = Vec::new();
        for seq in order {
            let Some(entry) = self.entries.get(seq) else {
                continue;
            };
            if entry.offered_to.is_some() {
                continue;
            }
            let Some(class) = q.cfg.classes.get(entry.class) else {
                continue;
            };
            let (rule, tier) = if class.strict {
                let cap = strict_cap(class.max_agent_share, logged_in);
                let used = load
                    .strict
                    .get(&(q.cfg.id.clone(), entry.class))
                    .copied()
                    .unwrap_or(0);
                if used >= cap {
                    deferred.push(entry);
                    continue;
                }
                (DispatchRule::StrictLane, 0)
            } else {
                let score = score(class, entry, now);
                (DispatchRule::Priority { score }, 1)
            };
            if let Some(c) = self.pick_agent(q, entry, ready, rule, tier, now) {
                return Some(c);
            }
        }
        // No ready agent can take any caller below the strict lane: the cap must not hold an
        // idle agent back.
        deferred.into_iter().find_map(|entry| {
            self.pick_agent(q, entry, ready, DispatchRule::StrictLaneIdleAgent, 2, now)
        })
    }

    /// The longest-idle eligible agent for `entry`, preferring agents who have not passed it.
    fn pick_agent(
        &self,
        q: &Queue,
        entry: &Entry,
        ready: &[(&AgentId, &Agent)],
        rule: DispatchRule,
        tier: u8,
        now: Instant,
    ) -> Option<Candidate> {
        let widened_step = self
            .settings
            .widen_after
            .is_some_and(|w| now.saturating_duration_since(entry.queue_joined) >= w);
        let full = |a: &Agent| a.has_all(&q.cfg.skills) && a.has_all(&entry.skills);
        let eligible = |a: &Agent| full(a) || (widened_step && a.has_all(&q.cfg.skills));
        let chosen = ready
            .iter()
            .find(|(id, a)| eligible(a) && !entry.passed.contains(*id))
            .or_else(|| ready.iter().find(|(_, a)| eligible(a)))?;
        let (id, agent) = *chosen;
        let skills_matched = q
            .cfg
            .skills
            .iter()
            .chain(&entry.skills)
            .filter_map(|s| agent.skills.get(s).map(|l| (s.clone(), *l)))
            .collect();
        Some(Candidate {
            seq: entry.seq,
            agent: id.clone(),
            rule,
            skills_matched,
            widened: !full(agent),
            tier,
            joined: entry.joined,
        })
    }

    fn make_offer(&mut self, c: Candidate, now: Instant) {
        let Some(entry) = self.entries.get_mut(&c.seq) else {
            return;
        };
        let Some(q) = self.queues.get(&entry.queue) else {
            return;
        };
        let Some(class) = q.cfg.classes.get(entry.class) else {
            return;
        };
        let Some(agent) = self.agents.get_mut(&c.agent) else {
            return;
        };
        entry.offered_to = Some(c.agent.clone());
        agent.work = Some(Work {
            queue: entry.queue.clone(),
            class: entry.class,
            strict: class.strict,
            prev_ready_seq: agent.ready_seq,
        });
        if !q.cfg.offer_timeout.is_zero() {
            self.timers
                .set(Timer::Offer(c.agent.clone()), now + q.cfg.offer_timeout);
        }
        let offer = Offer {
            agent: c.agent.clone(),
            call: entry.call.clone(),
            queue: entry.queue.clone(),
            class: class.name.clone(),
            waited: now.saturating_duration_since(entry.joined),
            callback: entry.callback,
            why: OfferReason {
                rule: c.rule,
                skills_matched: c.skills_matched,
                widened: c.widened,
            },
            context: Arc::clone(&entry.context),
        };
        let call = entry.call.clone();
        self.set_state(&c.agent, AgentState::Offered { call });
        self.actions.push_back(AcdAction::Offer(offer));
    }

    /// The queue's waiting callers (sequence numbers) in service order at `now`.
    pub(super) fn order(&self, queue: &QueueId, now: Instant) -> Vec<u64> {
        let Some(q) = self.queues.get(queue) else {
            return Vec::new();
        };
        // One pass over all entries beats a map lookup per waiting caller.
        let mut ranked: Vec<(Rank, u64)> = self
            .entries
            .values()
            .filter(|e| e.queue == *queue)
            .filter_map(|e| Some((rank(q.cfg.classes.get(e.class)?, e, now), e.seq)))
            .collect();
        ranked.sort_by(|a, b| a.0.cmp(&b.0));
        ranked.into_iter().map(|(_, seq)| seq).collect()
    }
}

#[derive(Debug, Default)]
struct Load {
    logged_in: BTreeMap<QueueId, usize>,
    strict: BTreeMap<(QueueId, usize), usize>,
}

/// `max(1, floor(share × logged in))`, or 0 for a share of zero or less (or NaN).
fn strict_cap(share: f64, logged_in: usize) -> usize {
    if share.is_nan() || share <= 0.0 {
        return 0;
    }
    let cap = (share.min(1.0) * logged_in as f64).floor();
    // `cap` is finite and within 0..=logged_in, so the conversion is exact.
    (cap as usize).max(1)
}

pub(super) fn rank(class: &crate::flow::model::ClassConfig, entry: &Entry, now: Instant) -> Rank {
    if class.strict {
        Rank::Strict {
            class: entry.class,
            seq: entry.seq,
        }
    } else {
        Rank::Aging {
            score: score(class, entry, now),
            seq: entry.seq,
        }
    }
}

fn score(class: &crate::flow::model::ClassConfig, entry: &Entry, now: Instant) -> f64 {
    let waited = now.saturating_duration_since(entry.joined).as_secs_f64();
    class.base_priority + class.aging_per_second * waited
}
