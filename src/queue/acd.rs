//! The ACD state machine: waiting callers, agents, dispatch, overflow and announcements.
//!
//! Sans-IO: facts in ([`Acd::handle`], [`Acd::handle_timeout`]), commands out
//! ([`Acd::poll_action`]), next deadline from [`Acd::poll_timeout`]. It never reads a clock,
//! never sleeps, never touches a socket or a global metric; `now` is always an argument and
//! time going backwards is treated as no time passing. Iteration is over `BTreeMap`s and
//! ties are broken by sequence numbers, so the same inputs always give the same actions.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::flow::model::QueueConfig;
use crate::ids::{AgentId, CallId, QueueId};
use crate::queue::event::{
    AcdAction, AcdInput, AgentState, CallerContext, DispatchRule, LeaveReason, Offer, OfferReason,
    RejectReason, WithdrawReason,
};
use crate::queue::snapshot::{AcdSnapshot, AgentSnapshot, QueueCounters, QueueSnapshot};
use crate::queue::timers::{Timer, Timers};

/// Engine-wide ACD knobs that the queue files do not carry. [`Default`] gives the documented
/// defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct AcdSettings {
    /// Routing widening: a caller who has waited this long in a queue may be offered to any
    /// agent of that queue who has the queue's own skills, even without the caller's extra
    /// skills. `None`: never widen. Default 30 s.
    pub widen_after: Option<Duration>,
    /// Offers missed in a row before the agent is set not ready (`missed offers`). Default 3.
    pub max_missed_offers: u32,
    /// The window of answers the service rate and estimated waits are computed from.
    /// Default 10 minutes.
    pub rate_window: Duration,
    /// Fewest answers in the window before an estimate is given. Default 3.
    pub min_rate_samples: usize,
}

impl Default for AcdSettings {
    fn default() -> Self {
        Self {
            widen_after: Some(Duration::from_secs(30)),
            max_missed_offers: 3,
            rate_window: Duration::from_secs(600),
            min_rate_samples: 3,
        }
    }
}

/// The not-ready reason set after too many missed offers.
pub const MISSED_OFFERS_REASON: &str = "missed offers";

/// One queue: its config, who waits in it (by sequence number) and its totals.
#[derive(Debug)]
struct Queue {
    cfg: Arc<QueueConfig>,
    waiting: BTreeSet<u64>,
    counters: QueueCounters,
    /// Instants of recent answers, oldest first.
    answers: VecDeque<Instant>,
    /// Dropped from the config by a reload: takes no new callers, removed once empty.
    retired: bool,
}

impl Queue {
    fn new(cfg: Arc<QueueConfig>) -> Self {
        Queue {
            cfg,
            waiting: BTreeSet::new(),
            counters: QueueCounters::default(),
            answers: VecDeque::new(),
            retired: false,
        }
    }
}

/// A caller waiting in a queue.
#[derive(Debug)]
struct Entry {
    call: CallId,
    queue: QueueId,
    /// Index into the queue's classes.
    class: usize,
    seq: u64,
    /// When the caller first joined any queue: wait, aging and service level count from here.
    joined: Instant,
    /// When the caller arrived in the current queue: `max_wait` and widening count from here.
    queue_joined: Instant,
    /// Skills required on top of the queue's own.
    skills: Vec<String>,
    context: Arc<CallerContext>,
    callback: bool,
    offered_to: Option<AgentId>,
    /// Agents who missed or declined this caller: others are preferred.
    passed: BTreeSet<AgentId>,
    /// The last position announced.
    announced: Option<u32>,
    /// Queues this caller overflowed out of.
    visited: Vec<QueueId>,
}

/// What an offered or busy agent is working on.
#[derive(Debug, Clone)]
struct Work {
    queue: QueueId,
    class: usize,
    strict: bool,
    /// The agent's place in the idle order before the offer, restored when the offer ends
    /// through no fault of the agent.
    prev_ready_seq: u64,
}

#[derive(Debug)]
struct Agent {
    skills: BTreeMap<String, u8>,
    queues: BTreeSet<QueueId>,
    state: AgentState,
    /// Order of becoming idle: the smallest is the longest idle.
    ready_seq: u64,
    misses: u32,
    work: Option<Work>,
    /// Not-ready asked for while busy: applied when wrap-up ends.
    not_ready_after: Option<String>,
}

impl Agent {
    fn has_all<'a>(&self, skills: impl IntoIterator<Item = &'a String>) -> bool {
        skills
            .into_iter()
            .all(|s| self.skills.get(s).is_some_and(|level| *level > 0))
    }
}

/// Ordering of a waiting caller inside its queue; smaller is served first.
#[derive(Debug, Clone, Copy)]
enum Rank {
    Strict { class: usize, seq: u64 },
    Aging { score: f64, seq: u64 },
}

impl Rank {
    fn cmp(&self, other: &Rank) -> std::cmp::Ordering {
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

/// The automatic call distributor: every queue and agent of the engine.
///
/// # Rules
///
/// - **Order in a queue.** Strict classes (the emergency lane) come first, in config order,
///   first come first served inside a class. Then every other caller by effective priority
///   `base_priority + aging_per_second × seconds waited since first joining`, highest first;
///   equal scores go by join order (sequence number).
/// - **Strict cap.** At most `max(1, floor(max_agent_share × agents logged in to the queue))`
///   agents may be offered or busy with one strict class at once (a share of 0 or less: no
///   agent). A strict caller over the cap waits, *unless* a ready agent has no other caller
///   of the queue it could take: then it takes the strict caller (an idle agent is never held
///   back by the cap).
/// - **Agents.** The longest-idle eligible ready agent gets the offer (idle order: when it
///   last became ready; an agent who misses or declines an offer goes to the back). An agent
///   who missed or declined a caller is offered that caller again only when no other
///   eligible agent is ready. Eligible: serves the queue and has every skill the queue and
///   the caller require (level ≥ 1). Routing widens once: after
///   [`AcdSettings::widen_after`] in the queue the caller's own skills are dropped and only
///   the queue's skills remain required.
/// - **Between queues.** When several queues could use ready agents, strict callers within
///   their cap go first, then the caller who first joined earliest.
/// - **Offers.** An offer rings for the queue's `offer_timeout` (zero: until answered);
///   unanswered it is withdrawn, counted as a miss, and after
///   [`AcdSettings::max_missed_offers`] misses in a row the agent becomes not ready
///   ([`MISSED_OFFERS_REASON`]). After a call the agent wraps up for the queue's `wrap_up`.
/// - **`max_wait`** (zero: no limit) counts from arrival in the current queue. When it
///   passes, any ringing offer is withdrawn and the caller moves to the overflow queue
///   keeping its class name (or the overflow queue's lowest class if it has no such class),
///   its sequence number and its original join time, so it keeps its seniority there.
///   When there is no overflow queue, it is unknown, full, or the caller already passed
///   through it, the caller is timed out. The overflow queue's `join_without_agents` does
///   not apply to callers moved there.
/// - **Size.** `max_size` (zero: no limit) counts callers waiting, callbacks included.
///   Without `join_without_agents`, a join is refused when no logged-in agent could take
///   the caller at any routing step.
/// - **Callbacks** keep the entry, its place and its seniority; the entry is offered as a
///   callback when its turn comes. A `HungUp` or `Abandoned` leave for it is ignored (the
///   caller hanging up is expected); `Exited` cancels it. `max_wait` still applies.
/// - **Position** is the number of callers ahead in the queue's current order (all
///   classes, regardless of skills). The announced value is `min(last announced, now)`:
///   a caller is never told a higher number than before, even when a strict caller arrives
///   or aging reorders the line; the estimate stays honest (it uses the computed position).
///   A `Position` action goes out on joining, whenever the announced number drops (checked
///   each time a line changes: a join, a leave, an answer, an overflow; reordering by aging
///   alone shows at the next change) and on request; callback entries are not told (they
///   are not listening).
/// - **Estimated wait** = (position + 1) / service rate, where the rate is answers in the
///   last [`AcdSettings::rate_window`] divided by that window (or by the time since the ACD
///   first saw a `now`, if shorter). `None` ("we cannot estimate") with fewer than
///   [`AcdSettings::min_rate_samples`] answers, or when no agent is logged in to the queue.
#[derive(Debug)]
pub struct Acd {
    settings: AcdSettings,
    queues: BTreeMap<QueueId, Queue>,
    entries: BTreeMap<u64, Entry>,
    index: BTreeMap<CallId, u64>,
    agents: BTreeMap<AgentId, Agent>,
    timers: Timers,
    actions: VecDeque<AcdAction>,
    next_seq: u64,
    next_ready_seq: u64,
    last_now: Option<Instant>,
    epoch: Option<Instant>,
    dropped: u64,
    /// Some queue's line changed since positions were last announced.
    positions_dirty: bool,
}

impl Acd {
    /// An ACD over these queues with the default [`AcdSettings`].
    pub fn new(queues: impl IntoIterator<Item = Arc<QueueConfig>>) -> Self {
        Self::with_settings(queues, AcdSettings::default())
    }

    /// An ACD over these queues with explicit settings. A later queue with the same id
    /// replaces an earlier one.
    pub fn with_settings(
        queues: impl IntoIterator<Item = Arc<QueueConfig>>,
        settings: AcdSettings,
    ) -> Self {
        let queues = queues
            .into_iter()
            .map(|cfg| (cfg.id.clone(), Queue::new(cfg)))
            .collect();
        Self {
            settings,
            queues,
            entries: BTreeMap::new(),
            index: BTreeMap::new(),
            agents: BTreeMap::new(),
            timers: Timers::default(),
            actions: VecDeque::new(),
            next_seq: 0,
            next_ready_seq: 0,
            last_now: None,
            epoch: None,
            dropped: 0,
            positions_dirty: false,
        }
    }

    /// Feeds one fact at `now`. Timers already due at `now` fire first. Drain
    /// [`Acd::poll_action`] afterwards, then read [`Acd::poll_timeout`].
    pub fn handle(&mut self, now: Instant, input: AcdInput) {
        let now = self.advance(now);
        self.expire(now);
        self.apply(now, input);
        self.settle(now);
    }

    /// Fires every timer due at `now` (offer timeouts, wrap-up ends, `max_wait`, routing
    /// widening). Calling it early does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.advance(now);
        self.expire(now);
        self.settle(now);
    }

    /// The next command, if any.
    pub fn poll_action(&mut self) -> Option<AcdAction> {
        self.actions.pop_front()
    }

    /// When [`Acd::handle_timeout`] should next be called; `None` when nothing is pending.
    /// Never earlier than the last `now` handled.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Swaps in a new set of queue configs (a hot reload). Waiting callers, agents, counters
    /// and service-rate history stay. Callers keep their class by name (or drop to the
    /// queue's lowest class when it is gone); the new `max_wait` applies to callers arriving
    /// after the reload. A queue missing from the new set keeps its old config for the
    /// callers still in it, takes no new callers, and disappears once empty.
    pub fn reconfigure(
        &mut self,
        now: Instant,
        queues: impl IntoIterator<Item = Arc<QueueConfig>>,
    ) {
        let now = self.advance(now);
        self.expire(now);
        let mut fresh: BTreeMap<QueueId, Arc<QueueConfig>> = queues
            .into_iter()
            .map(|cfg| (cfg.id.clone(), cfg))
            .collect();
        for (id, q) in &mut self.queues {
            match fresh.remove(id) {
                Some(cfg) => {
                    let old = std::mem::replace(&mut q.cfg, cfg);
                    q.retired = false;
                    let remap = |index: usize| {
                        old.classes
                            .get(index)
                            .and_then(|c| class_index(&q.cfg, &c.name))
                    };
                    for seq in &q.waiting {
                        if let Some(entry) = self.entries.get_mut(seq)
                            && let Some(class) = remap(entry.class)
                        {
                            entry.class = class;
                        }
                    }
                    for agent in self.agents.values_mut() {
                        if let Some(work) = &mut agent.work
                            && &work.queue == id
                            && let Some(class) = remap(work.class)
                        {
                            work.class = class;
                            work.strict = q.cfg.classes.get(class).is_some_and(|c| c.strict);
                        }
                    }
                }
                None => q.retired = true,
            }
        }
        for (id, cfg) in fresh {
            self.queues.insert(id, Queue::new(cfg));
        }
        self.positions_dirty = true;
        self.settle(now);
    }

    /// Whether `call` is waiting in a queue (callbacks included).
    pub fn is_waiting(&self, call: &CallId) -> bool {
        self.index.contains_key(call)
    }

    /// The state of an agent the ACD has seen.
    pub fn agent_state(&self, agent: &AgentId) -> Option<&AgentState> {
        self.agents.get(agent).map(|a| &a.state)
    }

    /// A read-only picture for metrics and the API.
    pub fn snapshot(&self, now: Instant) -> AcdSnapshot {
        let now = self.last_now.map_or(now, |last| now.max(last));
        let queues = self
            .queues
            .values()
            .map(|q| {
                let mut depth = vec![0usize; q.cfg.classes.len()];
                let mut callbacks_waiting = 0;
                let mut oldest: Option<Instant> = None;
                for seq in &q.waiting {
                    if let Some(e) = self.entries.get(seq) {
                        if let Some(d) = depth.get_mut(e.class) {
                            *d += 1;
                        }
                        callbacks_waiting += usize::from(e.callback);
                        oldest = Some(oldest.map_or(e.queue_joined, |o| o.min(e.queue_joined)));
                    }
                }
                let mut by_state: Vec<(&'static str, usize)> =
                    AgentState::LABELS.iter().map(|l| (*l, 0)).collect();
                for agent in self
                    .agents
                    .values()
                    .filter(|a| a.queues.contains(&q.cfg.id))
                {
                    if let Some(slot) = by_state.iter_mut().find(|(l, _)| *l == agent.state.label())
                    {
                        slot.1 += 1;
                    }
                }
                let c = q.counters;
                QueueSnapshot {
                    id: q.cfg.id.clone(),
                    depth_by_class: q
                        .cfg
                        .classes
                        .iter()
                        .zip(depth)
                        .map(|(class, n)| (class.name.clone(), n))
                        .collect(),
                    callbacks_waiting,
                    oldest_wait: oldest.map(|o| now.saturating_duration_since(o)),
                    counters: c,
                    service_level: (c.answered > 0)
                        .then(|| c.answered_within_service_level as f64 / c.answered as f64),
                    service_rate_per_minute: self.service_rate(q, now).map(|r| r * 60.0),
                    agents_by_state: by_state,
                }
            })
            .collect();
        let agents = self
            .agents
            .iter()
            .map(|(id, a)| AgentSnapshot {
                id: id.clone(),
                state: a.state.clone(),
                queues: a.queues.iter().cloned().collect(),
                missed_in_a_row: a.misses,
            })
            .collect();
        AcdSnapshot {
            queues,
            agents,
            dropped_inputs: self.dropped,
        }
    }

    // ---- time ----------------------------------------------------------------------------

    fn advance(&mut self, now: Instant) -> Instant {
        let now = self.last_now.map_or(now, |last| now.max(last));
        self.last_now = Some(now);
        self.epoch.get_or_insert(now);
        now
    }

    fn expire(&mut self, now: Instant) {
        while let Some(timer) = self.timers.pop_due(now) {
            match timer {
                Timer::MaxWait(seq) => self.max_wait_passed(seq, now),
                // Widening changes who is eligible; the dispatch after this picks it up.
                Timer::Widen(_) => {}
                Timer::Offer(agent) => self.offer_missed(&agent),
                Timer::WrapUp(agent) => self.wrap_up_ended(&agent),
            }
        }
    }

    /// After every input: dispatch, forget old answers, tell callers where they stand.
    fn settle(&mut self, now: Instant) {
        self.dispatch(now);
        self.queues
            .retain(|_, q| !(q.retired && q.waiting.is_empty()));
        if let Some(horizon) = now.checked_sub(self.settings.rate_window) {
            for q in self.queues.values_mut() {
                while q.answers.front().is_some_and(|t| *t < horizon) {
                    q.answers.pop_front();
                }
            }
        }
        self.announce_positions(now);
    }

    // ---- inputs --------------------------------------------------------------------------

    fn apply(&mut self, now: Instant, input: AcdInput) {
        match input {
            AcdInput::CallerJoined {
                call,
                queue,
                class,
                skills,
                context,
            } => self.caller_joined(now, call, queue, class, skills, context),
            AcdInput::CallerLeft { call, reason } => self.caller_left(call, reason),
            AcdInput::CallbackRequested { call } => self.callback_requested(call),
            AcdInput::PositionRequested { call } => self.position_requested(call, now),
            AcdInput::AgentLoggedIn {
                agent,
                skills,
                queues,
            } => self.agent_logged_in(agent, skills, queues),
            AcdInput::AgentLoggedOut { agent } => self.agent_logged_out(&agent),
            AcdInput::AgentReady { agent } => self.agent_ready(&agent),
            AcdInput::AgentNotReady { agent, reason } => self.agent_not_ready(&agent, reason),
            AcdInput::OfferAccepted { agent, call } => self.offer_accepted(&agent, &call, now),
            AcdInput::OfferRejected { agent, call } => self.offer_rejected(&agent, &call),
            AcdInput::AgentCallEnded { agent } => self.agent_call_ended(&agent, now),
            AcdInput::WrapUpDone { agent } => self.wrap_up_done(&agent),
        }
    }

    fn caller_joined(
        &mut self,
        now: Instant,
        call: CallId,
        queue_id: QueueId,
        class: crate::ids::PriorityClass,
        skills: Vec<String>,
        context: CallerContext,
    ) {
        if self.index.contains_key(&call) {
            self.dropped += 1;
            return;
        }
        let reject = |acd: &mut Acd, call: CallId, queue: QueueId, reason| {
            acd.actions.push_back(AcdAction::Rejected {
                call,
                queue,
                reason,
            });
        };
        let Some(q) = self.queues.get(&queue_id).filter(|q| !q.retired) else {
            return reject(self, call, queue_id, RejectReason::UnknownQueue);
        };
        let Some(class_index) = class_index(&q.cfg, &class) else {
            // A queue without classes cannot hold anyone.
            return reject(self, call, queue_id, RejectReason::UnknownQueue);
        };
        if q.cfg.max_size > 0 && q.waiting.len() >= q.cfg.max_size {
            if let Some(q) = self.queues.get_mut(&queue_id) {
                q.counters.rejected_full += 1;
            }
            return reject(self, call, queue_id, RejectReason::Full);
        }
        let extra: Vec<String> = skills
            .into_iter()
            .filter(|s| !q.cfg.skills.contains(s))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if !q.cfg.join_without_agents && !self.could_ever_serve(&q.cfg, &extra) {
            if let Some(q) = self.queues.get_mut(&queue_id) {
                q.counters.rejected_no_agents += 1;
            }
            return reject(self, call, queue_id, RejectReason::NoAgents);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let entry = Entry {
            call: call.clone(),
            queue: queue_id.clone(),
            class: class_index,
            seq,
            joined: now,
            queue_joined: now,
            skills: extra,
            context: Arc::new(context),
            callback: false,
            offered_to: None,
            passed: BTreeSet::new(),
            announced: None,
            visited: Vec::new(),
        };
        self.index.insert(call, seq);
        self.entries.insert(seq, entry);
        self.positions_dirty = true;
        if let Some(q) = self.queues.get_mut(&queue_id) {
            q.waiting.insert(seq);
            q.counters.entered += 1;
        }
        self.arm_entry_timers(seq, now);
    }

    fn caller_left(&mut self, call: CallId, reason: LeaveReason) {
        let Some(&seq) = self.index.get(&call) else {
            self.dropped += 1;
            return;
        };
        let Some(entry) = self.entries.get(&seq) else {
            return;
        };
        if entry.callback && reason != LeaveReason::Exited {
            return;
        }
        if let Some(agent) = entry.offered_to.clone() {
            self.withdraw_to_ready(&agent, WithdrawReason::CallerGone);
        }
        if let Some(entry) = self.remove_entry(seq)
            && let Some(q) = self.queues.get_mut(&entry.queue)
        {
            match reason {
                LeaveReason::Abandoned | LeaveReason::HungUp => q.counters.abandoned += 1,
                LeaveReason::Exited => q.counters.exited += 1,
            }
        }
    }

    fn callback_requested(&mut self, call: CallId) {
        let Some(&seq) = self.index.get(&call) else {
            self.dropped += 1;
            return;
        };
        let Some(entry) = self.entries.get_mut(&seq) else {
            return;
        };
        if !entry.callback {
            entry.callback = true;
            let offered = entry.offered_to.clone();
            let queue = entry.queue.clone();
            if let Some(q) = self.queues.get_mut(&queue) {
                q.counters.callbacks_requested += 1;
            }
            if let Some(agent) = offered {
                // The agent was ringing for a live caller who is about to hang up.
                self.withdraw_to_ready(&agent, WithdrawReason::CallerGone);
            }
        }
        self.actions
            .push_back(AcdAction::CallbackRegistered { call });
    }

    fn position_requested(&mut self, call: CallId, now: Instant) {
        let Some(&seq) = self.index.get(&call) else {
            self.dropped += 1;
            return;
        };
        let Some(queue) = self.entries.get(&seq).map(|e| e.queue.clone()) else {
            return;
        };
        let order = self.order(&queue, now);
        let computed = order.iter().position(|s| *s == seq).unwrap_or(order.len());
        let rate = self
            .queues
            .get(&queue)
            .and_then(|q| self.service_rate(q, now));
        if let Some(entry) = self.entries.get_mut(&seq) {
            let position = clamp_u32(computed).min(entry.announced.unwrap_or(u32::MAX));
            entry.announced = Some(position);
            self.actions.push_back(AcdAction::Position {
                call,
                position,
                estimated_wait: estimate(computed, rate),
            });
        }
    }

    fn agent_logged_in(&mut self, agent: AgentId, skills: Vec<(String, u8)>, queues: Vec<QueueId>) {
        let skills: BTreeMap<String, u8> = skills.into_iter().filter(|(_, l)| *l > 0).collect();
        let queues: BTreeSet<QueueId> = queues.into_iter().collect();
        let ready_seq = self.next_ready_seq;
        match self.agents.get_mut(&agent) {
            Some(a) => {
                a.skills = skills;
                a.queues = queues;
                if a.state == AgentState::LoggedOut {
                    a.misses = 0;
                    a.not_ready_after = None;
                    self.next_ready_seq += 1;
                    a.ready_seq = ready_seq;
                    self.set_state(&agent, AgentState::Ready);
                }
            }
            None => {
                self.next_ready_seq += 1;
                self.agents.insert(
                    agent.clone(),
                    Agent {
                        skills,
                        queues,
                        state: AgentState::LoggedOut,
                        ready_seq,
                        misses: 0,
                        work: None,
                        not_ready_after: None,
                    },
                );
                self.set_state(&agent, AgentState::Ready);
            }
        }
    }

    fn agent_logged_out(&mut self, agent: &AgentId) {
        let Some(a) = self.agents.get(agent) else {
            self.dropped += 1;
            return;
        };
        match a.state {
            AgentState::LoggedOut => {
                self.dropped += 1;
                return;
            }
            AgentState::Offered { .. } => {
                self.withdraw_offer(agent, WithdrawReason::AgentUnavailable);
            }
            _ => {}
        }
        self.timers.clear(&Timer::WrapUp(agent.clone()));
        if let Some(a) = self.agents.get_mut(agent) {
            a.work = None;
            a.misses = 0;
            a.not_ready_after = None;
        }
        self.set_state(agent, AgentState::LoggedOut);
    }

    fn agent_ready(&mut self, agent: &AgentId) {
        let Some(a) = self.agents.get_mut(agent) else {
            self.dropped += 1;
            return;
        };
        match a.state {
            AgentState::NotReady { .. } | AgentState::WrapUp => {
                a.misses = 0;
                a.not_ready_after = None;
                a.work = None;
                self.timers.clear(&Timer::WrapUp(agent.clone()));
                self.become_ready(agent);
            }
            AgentState::Ready => {}
            _ => self.dropped += 1,
        }
    }

    fn agent_not_ready(&mut self, agent: &AgentId, reason: String) {
        let Some(a) = self.agents.get_mut(agent) else {
            self.dropped += 1;
            return;
        };
        match a.state {
            AgentState::LoggedOut => self.dropped += 1,
            AgentState::Busy { .. } => a.not_ready_after = Some(reason),
            AgentState::Offered { .. } => {
                self.withdraw_offer(agent, WithdrawReason::AgentUnavailable);
                self.set_state(agent, AgentState::NotReady { reason });
            }
            AgentState::Ready | AgentState::WrapUp | AgentState::NotReady { .. } => {
                a.work = None;
                self.timers.clear(&Timer::WrapUp(agent.clone()));
                self.set_state(agent, AgentState::NotReady { reason });
            }
        }
    }

    fn offer_accepted(&mut self, agent: &AgentId, call: &CallId, now: Instant) {
        if !self.is_offered(agent, call) {
            self.dropped += 1;
            return;
        }
        self.timers.clear(&Timer::Offer(agent.clone()));
        let Some(&seq) = self.index.get(call) else {
            return;
        };
        let Some(entry) = self.remove_entry(seq) else {
            return;
        };
        let waited = now.saturating_duration_since(entry.joined);
        if let Some(q) = self.queues.get_mut(&entry.queue) {
            q.counters.answered += 1;
            if waited <= q.cfg.service_level {
                q.counters.answered_within_service_level += 1;
            }
            q.answers.push_back(now);
        }
        if let Some(a) = self.agents.get_mut(agent) {
            a.misses = 0;
        }
        self.actions.push_back(AcdAction::Assigned {
            call: call.clone(),
            agent: agent.clone(),
            queue: entry.queue,
            waited,
            callback: entry.callback,
        });
        self.set_state(agent, AgentState::Busy { call: call.clone() });
    }

    fn offer_rejected(&mut self, agent: &AgentId, call: &CallId) {
        if !self.is_offered(agent, call) {
            self.dropped += 1;
            return;
        }
        self.take_back_offer(agent, true);
        self.become_ready(agent);
    }

    fn agent_call_ended(&mut self, agent: &AgentId, now: Instant) {
        let Some(a) = self.agents.get_mut(agent) else {
            self.dropped += 1;
            return;
        };
        if !matches!(a.state, AgentState::Busy { .. }) {
            self.dropped += 1;
            return;
        }
        let wrap_up = a
            .work
            .take()
            .and_then(|w| self.queues.get(&w.queue))
            .map_or(Duration::ZERO, |q| q.cfg.wrap_up);
        if wrap_up.is_zero() {
            self.set_state(agent, AgentState::WrapUp);
            self.wrap_up_ended(agent);
        } else {
            self.timers.set(Timer::WrapUp(agent.clone()), now + wrap_up);
            self.set_state(agent, AgentState::WrapUp);
        }
    }

    fn wrap_up_done(&mut self, agent: &AgentId) {
        if self.agent_state(agent) != Some(&AgentState::WrapUp) {
            self.dropped += 1;
            return;
        }
        self.timers.clear(&Timer::WrapUp(agent.clone()));
        self.wrap_up_ended(agent);
    }

    // ---- timers --------------------------------------------------------------------------

    fn max_wait_passed(&mut self, seq: u64, now: Instant) {
        let Some(entry) = self.entries.get(&seq) else {
            return;
        };
        if let Some(agent) = entry.offered_to.clone() {
            self.withdraw_to_ready(&agent, WithdrawReason::MaxWait);
        }
        let Some(entry) = self.entries.get(&seq) else {
            return;
        };
        let from = entry.queue.clone();
        let target = self
            .queues
            .get(&from)
            .and_then(|q| q.cfg.overflow.clone())
            .filter(|to| *to != from && !entry.visited.contains(to))
            .and_then(|to| {
                let q = self.queues.get(&to).filter(|q| !q.retired)?;
                let room = q.cfg.max_size == 0 || q.waiting.len() < q.cfg.max_size;
                let class = self
                    .queues
                    .get(&from)
                    .and_then(|f| f.cfg.classes.get(entry.class))
                    .map(|c| c.name.clone())?;
                let class = class_index(&q.cfg, &class)?;
                room.then_some((to, class))
            });
        match target {
            Some((to, class)) => {
                if let Some(q) = self.queues.get_mut(&from) {
                    q.waiting.remove(&seq);
                    q.counters.overflowed += 1;
                }
                if let Some(q) = self.queues.get_mut(&to) {
                    q.waiting.insert(seq);
                    q.counters.entered += 1;
                }
                let Some(entry) = self.entries.get_mut(&seq) else {
                    return;
                };
                self.positions_dirty = true;
                entry.visited.push(from.clone());
                entry.queue = to.clone();
                entry.class = class;
                entry.queue_joined = now;
                entry.passed.clear();
                let call = entry.call.clone();
                self.arm_entry_timers(seq, now);
                self.actions
                    .push_back(AcdAction::Overflowed { call, from, to });
            }
            None => {
                if let Some(entry) = self.remove_entry(seq) {
                    if let Some(q) = self.queues.get_mut(&from) {
                        q.counters.timed_out += 1;
                    }
                    self.actions.push_back(AcdAction::TimedOut {
                        call: entry.call,
                        queue: from,
                    });
                }
            }
        }
    }

    fn offer_missed(&mut self, agent: &AgentId) {
        if !matches!(self.agent_state(agent), Some(AgentState::Offered { .. })) {
            return;
        }
        self.withdraw_offer(agent, WithdrawReason::Missed);
        let limit = self.settings.max_missed_offers.max(1);
        let Some(a) = self.agents.get_mut(agent) else {
            return;
        };
        a.misses += 1;
        if a.misses >= limit {
            a.misses = 0;
            self.set_state(
                agent,
                AgentState::NotReady {
                    reason: MISSED_OFFERS_REASON.to_owned(),
                },
            );
        } else {
            self.become_ready(agent);
        }
    }

    fn wrap_up_ended(&mut self, agent: &AgentId) {
        let Some(a) = self.agents.get_mut(agent) else {
            return;
        };
        if a.state != AgentState::WrapUp {
            return;
        }
        match a.not_ready_after.take() {
            Some(reason) => self.set_state(agent, AgentState::NotReady { reason }),
            None => self.become_ready(agent),
        }
    }

    // ---- dispatch ------------------------------------------------------------------------

    /// Offers waiting callers to ready agents until no pair is left.
    fn dispatch(&mut self, now: Instant) {
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

    // ---- order and announcements ---------------------------------------------------------

    /// The queue's waiting callers (sequence numbers) in service order at `now`.
    fn order(&self, queue: &QueueId, now: Instant) -> Vec<u64> {
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

    /// Tells every caller whose position dropped since the last announcement, once the line
    /// changed (a join, a leave, an answer, an overflow).
    fn announce_positions(&mut self, now: Instant) {
        if !std::mem::take(&mut self.positions_dirty) {
            return;
        }
        // Queues in id order with their rate; entries find theirs by binary search.
        let queues: Vec<(&QueueId, &Queue, Option<f64>)> = self
            .queues
            .iter()
            .map(|(id, q)| (id, q, self.service_rate(q, now)))
            .collect();
        let mut ranked: Vec<(usize, Rank, &mut Entry)> = self
            .entries
            .values_mut()
            .filter_map(|e| {
                let index = queues
                    .binary_search_by(|(id, _, _)| (*id).cmp(&e.queue))
                    .ok()?;
                let class = queues[index].1.cfg.classes.get(e.class)?;
                Some((index, rank(class, e, now), e))
            })
            .collect();
        ranked.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut current = usize::MAX;
        let mut computed = 0usize;
        for (index, _, entry) in ranked {
            if index != current {
                current = index;
                computed = 0;
            } else {
                computed += 1;
            }
            if entry.callback {
                continue;
            }
            let position = clamp_u32(computed);
            if entry.announced.is_some_and(|last| last <= position) {
                continue;
            }
            entry.announced = Some(position);
            self.actions.push_back(AcdAction::Position {
                call: entry.call.clone(),
                position,
                estimated_wait: estimate(computed, queues[index].2),
            });
        }
    }

    /// Answers per second over the recent window, when there is enough data and someone
    /// to answer.
    fn service_rate(&self, q: &Queue, now: Instant) -> Option<f64> {
        let staffed = self
            .agents
            .values()
            .any(|a| a.state != AgentState::LoggedOut && a.queues.contains(&q.cfg.id));
        if !staffed {
            return None;
        }
        // Answers are recorded in time order (time never goes backwards here).
        let n = match now.checked_sub(self.settings.rate_window) {
            Some(horizon) => q.answers.len() - q.answers.partition_point(|t| *t < horizon),
            None => q.answers.len(),
        };
        if n == 0 || n < self.settings.min_rate_samples {
            return None;
        }
        let since_start = self
            .epoch
            .map_or(Duration::ZERO, |e| now.saturating_duration_since(e));
        let span = since_start.min(self.settings.rate_window).as_secs_f64();
        (span > 0.0).then(|| n as f64 / span)
    }

    // ---- helpers -------------------------------------------------------------------------

    fn arm_entry_timers(&mut self, seq: u64, now: Instant) {
        let Some(entry) = self.entries.get(&seq) else {
            return;
        };
        let Some(q) = self.queues.get(&entry.queue) else {
            return;
        };
        if q.cfg.max_wait.is_zero() {
            self.timers.clear(&Timer::MaxWait(seq));
        } else {
            self.timers.set(Timer::MaxWait(seq), now + q.cfg.max_wait);
        }
        match self.settings.widen_after {
            Some(w) if !w.is_zero() && !entry.skills.is_empty() => {
                self.timers.set(Timer::Widen(seq), now + w);
            }
            _ => self.timers.clear(&Timer::Widen(seq)),
        }
    }

    fn remove_entry(&mut self, seq: u64) -> Option<Entry> {
        let entry = self.entries.remove(&seq)?;
        self.positions_dirty = true;
        self.index.remove(&entry.call);
        if let Some(q) = self.queues.get_mut(&entry.queue) {
            q.waiting.remove(&seq);
        }
        self.timers.clear(&Timer::MaxWait(seq));
        self.timers.clear(&Timer::Widen(seq));
        Some(entry)
    }

    fn is_offered(&self, agent: &AgentId, call: &CallId) -> bool {
        matches!(self.agent_state(agent), Some(AgentState::Offered { call: c }) if c == call)
    }

    /// Ends the agent's ringing offer: the caller is waiting again (`passed` marks the agent as
    /// having passed on it). Returns the call and the agent's place in the idle order before
    /// the offer; leaves the agent's state for the caller to set.
    fn take_back_offer(&mut self, agent: &AgentId, passed: bool) -> Option<(CallId, u64)> {
        let Some(AgentState::Offered { call }) = self.agent_state(agent).cloned() else {
            return None;
        };
        self.timers.clear(&Timer::Offer(agent.clone()));
        if let Some(entry) = self
            .index
            .get(&call)
            .and_then(|seq| self.entries.get_mut(seq))
            && entry.offered_to.as_ref() == Some(agent)
        {
            entry.offered_to = None;
            if passed {
                entry.passed.insert(agent.clone());
            }
        }
        let a = self.agents.get_mut(agent)?;
        let prev = a.work.take().map_or(a.ready_seq, |w| w.prev_ready_seq);
        Some((call, prev))
    }

    /// Takes back the offer and tells the agent's side to stop ringing.
    fn withdraw_offer(&mut self, agent: &AgentId, reason: WithdrawReason) -> Option<u64> {
        let passed = reason == WithdrawReason::Missed;
        let (call, prev) = self.take_back_offer(agent, passed)?;
        self.actions.push_back(AcdAction::OfferWithdrawn {
            agent: agent.clone(),
            call,
            reason,
        });
        Some(prev)
    }

    /// Withdraws the offer through no fault of the agent: it keeps its place in the idle order.
    fn withdraw_to_ready(&mut self, agent: &AgentId, reason: WithdrawReason) {
        if let Some(prev) = self.withdraw_offer(agent, reason) {
            self.restore_ready(agent, prev);
        }
    }

    /// Back to ready at the place in the idle order the agent had before the offer.
    fn restore_ready(&mut self, agent: &AgentId, ready_seq: u64) {
        if let Some(a) = self.agents.get_mut(agent) {
            a.ready_seq = ready_seq;
        }
        self.set_state(agent, AgentState::Ready);
    }

    /// Ready at the back of the idle order.
    fn become_ready(&mut self, agent: &AgentId) {
        let seq = self.next_ready_seq;
        if let Some(a) = self.agents.get_mut(agent) {
            self.next_ready_seq += 1;
            a.ready_seq = seq;
            a.work = None;
        }
        self.set_state(agent, AgentState::Ready);
    }

    fn set_state(&mut self, agent: &AgentId, state: AgentState) {
        let Some(a) = self.agents.get_mut(agent) else {
            return;
        };
        if a.state == state {
            return;
        }
        a.state = state.clone();
        self.actions.push_back(AcdAction::AgentState {
            agent: agent.clone(),
            state,
        });
    }

    fn could_ever_serve(&self, cfg: &QueueConfig, extra: &[String]) -> bool {
        let widens = self.settings.widen_after.is_some();
        self.agents.values().any(|a| {
            a.state != AgentState::LoggedOut
                && a.queues.contains(&cfg.id)
                && a.has_all(&cfg.skills)
                && (widens || a.has_all(extra))
        })
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

fn rank(class: &crate::flow::model::ClassConfig, entry: &Entry, now: Instant) -> Rank {
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

/// The class index of `name`, or the lowest class when the queue has no such class.
fn class_index(cfg: &QueueConfig, name: &crate::ids::PriorityClass) -> Option<usize> {
    cfg.classes
        .iter()
        .position(|c| &c.name == name)
        .or_else(|| cfg.classes.len().checked_sub(1))
}

fn clamp_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn estimate(position: usize, rate: Option<f64>) -> Option<Duration> {
    let rate = rate?;
    Duration::try_from_secs_f64((position as f64 + 1.0) / rate).ok()
}
