//! The ACD state machine: waiting callers, agents, dispatch, overflow and announcements.
//!
//! Sans-IO: facts in ([`Acd::handle`], [`Acd::handle_timeout`]), commands out
//! ([`Acd::poll_action`]), next deadline from [`Acd::poll_timeout`]. It never reads a clock,
//! never sleeps, never touches a socket or a global metric; `now` is always an argument and
//! time going backwards is treated as no time passing. Iteration is over `BTreeMap`s and
//! ties are broken by sequence numbers, so the same inputs always give the same actions.
//!
//! The parts, one file each: this file holds the state, the public API and one turn (take
//! the `now` handed in, fire due timers, apply the input, settle); `callers` applies the
//! waiting callers' facts; `agent_states` the agents' facts and their state changes;
//! `dispatch` orders each line and pairs callers with agents; `timeouts` is what happens when
//! a named timer fires; `announce` tells callers their position and estimated wait.

mod agent_states;
mod announce;
mod callers;
mod dispatch;
mod timeouts;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use self::agent_states::Agent;
use self::callers::Entry;
use crate::flow::model::QueueConfig;
use crate::ids::{AgentId, CallId, QueueId};
use crate::queue::event::{AcdAction, AcdInput, AgentState};
use crate::queue::snapshot::{AcdSnapshot, AgentSnapshot, QueueCounters, QueueSnapshot};
use crate::queue::timers::Timers;

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

    fn advance(&mut self, now: Instant) -> Instant {
        let now = self.last_now.map_or(now, |last| now.max(last));
        self.last_now = Some(now);
        self.epoch.get_or_insert(now);
        now
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
}

/// The class index of `name`, or the lowest class when the queue has no such class.
fn class_index(cfg: &QueueConfig, name: &crate::ids::PriorityClass) -> Option<usize> {
    cfg.classes
        .iter()
        .position(|c| &c.name == name)
        .or_else(|| cfg.classes.len().checked_sub(1))
}
