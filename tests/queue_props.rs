//! Property tests of the ACD: random interleavings of joins, leaves, callbacks, agent state
//! changes, accepts and rejects and time jumps, checked against a small model of what the
//! actions said.
//!
//! Invariants checked after every step:
//! - no caller is lost or served twice: every join ends exactly once (assigned, left, timed
//!   out or rejected), and the ACD's waiting set matches the model's;
//! - a caller is never offered to two agents at once, an agent rings for one caller, and no
//!   offer rings past the queue's `offer_timeout`;
//! - the strict lane is served first within its cap: a non-strict offer never leaves behind
//!   a strict caller the agent could take while the strict class is under its cap, and a
//!   strict offer over the cap only goes to an agent with no other caller it could take;
//! - nobody waits in a queue past its `max_wait` without an `Overflowed` or `TimedOut`;
//! - positions announced to a caller never rise;
//! - `poll_timeout` is never in the past after handling.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ivr::flow::model::{AnnounceConfig, ClassConfig, QueueConfig};
use ivr::ids::{AgentId, CallId, FlowId, PriorityClass, PromptId, QueueId};
use ivr::queue::{Acd, AcdAction, AcdInput, AgentState, CallerContext, DispatchRule, LeaveReason};
use proptest::prelude::*;

const WIDEN_AFTER: Duration = Duration::from_secs(30);
const STRICT_SHARE: f64 = 0.5;
const CALLS: u8 = 14;
const AGENTS: usize = 5;

fn class(name: &str, strict: bool, base: f64) -> ClassConfig {
    ClassConfig {
        name: PriorityClass::from(name),
        strict,
        max_agent_share: if strict { STRICT_SHARE } else { 0.0 },
        base_priority: base,
        aging_per_second: 0.1,
    }
}

fn queue(
    id: &str,
    classes: Vec<ClassConfig>,
    max_wait: u64,
    overflow: Option<&str>,
) -> QueueConfig {
    QueueConfig {
        id: QueueId::from(id),
        name: id.to_owned(),
        classes,
        max_wait: Duration::from_secs(max_wait),
        overflow: overflow.map(QueueId::from),
        max_size: 8,
        service_level: Duration::from_secs(20),
        skills: vec![],
        hold_music: PromptId::from("hold_music"),
        announce: AnnounceConfig {
            first_after: Duration::from_secs(20),
            every: Duration::from_secs(45),
            position: true,
            wait_time: true,
            messages: vec![],
        },
        wrap_up: Duration::from_secs(5),
        offer_timeout: Duration::from_secs(10),
        join_without_agents: true,
    }
}

fn queues() -> Vec<QueueConfig> {
    let mut spill = queue(
        "spill",
        vec![class("vip", false, 20.0), class("normal", false, 0.0)],
        60,
        None,
    );
    spill.max_size = 5;
    spill.join_without_agents = false;
    vec![
        queue(
            "main",
            vec![
                class("emergency", true, 0.0),
                class("vip", false, 20.0),
                class("normal", false, 0.0),
            ],
            120,
            Some("spill"),
        ),
        spill,
    ]
}

/// Queues each agent serves.
fn agent_queues(agent: usize) -> Vec<QueueId> {
    match agent {
        0 | 1 => vec![QueueId::from("main")],
        2 | 3 => vec![QueueId::from("main"), QueueId::from("spill")],
        _ => vec![QueueId::from("spill")],
    }
}

fn agent_id(agent: usize) -> AgentId {
    AgentId::new(format!("a{agent}"))
}

fn call_id(call: u8) -> CallId {
    CallId::new(format!("c{call}"))
}

#[derive(Clone, Debug)]
enum Op {
    Join {
        call: u8,
        spill: bool,
        class: u8,
        english: bool,
    },
    Leave {
        call: u8,
        reason: u8,
    },
    Callback {
        call: u8,
    },
    AskPosition {
        call: u8,
    },
    Login {
        agent: usize,
        english: bool,
    },
    Logout {
        agent: usize,
    },
    Ready {
        agent: usize,
    },
    NotReady {
        agent: usize,
    },
    Accept {
        agent: usize,
    },
    Reject {
        agent: usize,
    },
    StaleAccept {
        agent: usize,
        call: u8,
    },
    CallEnded {
        agent: usize,
    },
    WrapUpDone {
        agent: usize,
    },
    /// Run the clock forward, firing timers as a shell would.
    Advance {
        millis: u64,
    },
    /// Jump the clock without a timeout call: a position request arrives late, and the ACD
    /// must first fire everything that fell due.
    Jump {
        millis: u64,
        call: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let call = 0..CALLS;
    let agent = 0..AGENTS;
    prop_oneof![
        6 => (call.clone(), any::<bool>(), 0u8..4, any::<bool>()).prop_map(
            |(call, spill, class, english)| Op::Join { call, spill, class, english }
        ),
        2 => (call.clone(), 0u8..3).prop_map(|(call, reason)| Op::Leave { call, reason }),
        1 => call.clone().prop_map(|call| Op::Callback { call }),
        1 => call.clone().prop_map(|call| Op::AskPosition { call }),
        2 => (agent.clone(), any::<bool>()).prop_map(|(agent, english)| Op::Login { agent, english }),
        1 => agent.clone().prop_map(|agent| Op::Logout { agent }),
        2 => agent.clone().prop_map(|agent| Op::Ready { agent }),
        1 => agent.clone().prop_map(|agent| Op::NotReady { agent }),
        4 => agent.clone().prop_map(|agent| Op::Accept { agent }),
        1 => agent.clone().prop_map(|agent| Op::Reject { agent }),
        1 => (agent.clone(), call).prop_map(|(agent, call)| Op::StaleAccept { agent, call }),
        3 => agent.clone().prop_map(|agent| Op::CallEnded { agent }),
        1 => agent.prop_map(|agent| Op::WrapUpDone { agent }),
        4 => (0u64..40_000).prop_map(|millis| Op::Advance { millis }),
        1 => (0u64..40_000, 0..CALLS).prop_map(|(millis, call)| Op::Jump { millis, call }),
    ]
}

#[derive(Debug, Clone)]
struct Waiting {
    queue: QueueId,
    strict: bool,
    english: bool,
    queue_joined: Instant,
    callback: bool,
}

#[derive(Debug, Clone)]
struct AgentModel {
    state: AgentState,
    english: bool,
    queues: Vec<QueueId>,
    /// (queue, strict) of the call it rings for or talks to.
    work: Option<(QueueId, bool)>,
}

struct Model {
    configs: BTreeMap<QueueId, QueueConfig>,
    waiting: BTreeMap<CallId, Waiting>,
    /// Ringing offers: call → (agent, when it started ringing).
    offered: BTreeMap<CallId, (AgentId, Instant)>,
    agents: BTreeMap<AgentId, AgentModel>,
    last_position: BTreeMap<CallId, u32>,
    joins: u64,
    ends: u64,
    /// The join fed in this step (its `Rejected` may follow).
    just_joined: Option<CallId>,
}

impl Model {
    fn new() -> Self {
        Self {
            configs: queues().into_iter().map(|q| (q.id.clone(), q)).collect(),
            waiting: BTreeMap::new(),
            offered: BTreeMap::new(),
            agents: BTreeMap::new(),
            last_position: BTreeMap::new(),
            joins: 0,
            ends: 0,
            just_joined: None,
        }
    }

    fn end(&mut self, call: &CallId) {
        self.waiting.remove(call);
        self.last_position.remove(call);
        self.ends += 1;
    }

    fn logged_in(&self, queue: &QueueId) -> usize {
        self.agents
            .values()
            .filter(|a| a.state != AgentState::LoggedOut && a.queues.contains(queue))
            .count()
    }

    fn strict_in_use(&self, queue: &QueueId) -> usize {
        self.agents
            .values()
            .filter(|a| {
                matches!(
                    a.state,
                    AgentState::Offered { .. } | AgentState::Busy { .. }
                ) && a.work.as_ref() == Some(&(queue.clone(), true))
            })
            .count()
    }

    fn strict_cap(&self, queue: &QueueId) -> usize {
        ((STRICT_SHARE * self.logged_in(queue) as f64).floor() as usize).max(1)
    }

    fn eligible(&self, agent: &AgentModel, w: &Waiting, now: Instant) -> bool {
        agent.queues.contains(&w.queue)
            && (!w.english
                || agent.english
                || now.saturating_duration_since(w.queue_joined) >= WIDEN_AFTER)
    }

    /// Waiting, un-offered callers of `queue` with the given lane that `agent` could take.
    fn takeable(&self, agent: &AgentModel, queue: &QueueId, strict: bool, now: Instant) -> usize {
        self.waiting
            .iter()
            .filter(|(call, w)| {
                &w.queue == queue
                    && w.strict == strict
                    && !self.offered.contains_key(*call)
                    && self.eligible(agent, w, now)
            })
            .count()
    }

    fn observe(&mut self, now: Instant, action: AcdAction) -> Result<(), TestCaseError> {
        match action {
            AcdAction::Rejected { call, .. } => {
                prop_assert_eq!(self.just_joined.as_ref(), Some(&call), "reject of a join");
                self.just_joined = None;
                self.end(&call);
            }
            AcdAction::Offer(offer) => {
                let w = self.waiting.get(&offer.call).cloned();
                prop_assert!(
                    w.is_some(),
                    "offer of a caller not waiting: {:?}",
                    offer.call
                );
                let w = w.unwrap_or_else(|| unreachable!());
                prop_assert!(
                    !self.offered.contains_key(&offer.call),
                    "{:?} offered to two agents at once",
                    offer.call
                );
                prop_assert_eq!(offer.queue.clone(), w.queue.clone());
                let agent = self.agents.get(&offer.agent).cloned();
                prop_assert!(agent.is_some());
                let agent = agent.unwrap_or_else(|| unreachable!());
                prop_assert_eq!(
                    &agent.state,
                    &AgentState::Offered {
                        call: offer.call.clone()
                    }
                );
                prop_assert!(self.eligible(&agent, &w, now), "agent not eligible");
                // The strict lane goes first within its cap, in every queue the agent serves.
                for q in &agent.queues {
                    let under_cap = self.strict_in_use(q) < self.strict_cap(q);
                    if !w.strict && under_cap {
                        prop_assert_eq!(
                            self.takeable(&agent, q, true, now),
                            0,
                            "a strict caller of {} was left behind under the cap",
                            q
                        );
                    }
                }
                if w.strict {
                    let over_cap = self.strict_in_use(&w.queue) >= self.strict_cap(&w.queue);
                    prop_assert_eq!(
                        offer.why.rule == DispatchRule::StrictLaneIdleAgent,
                        over_cap,
                        "strict rule {:?} with cap reached = {}",
                        offer.why.rule,
                        over_cap
                    );
                    if over_cap {
                        prop_assert_eq!(
                            self.takeable(&agent, &w.queue, false, now),
                            0,
                            "over the cap while the agent had a general caller"
                        );
                    }
                }
                self.offered
                    .insert(offer.call.clone(), (offer.agent.clone(), now));
                if let Some(a) = self.agents.get_mut(&offer.agent) {
                    a.work = Some((w.queue.clone(), w.strict));
                }
            }
            AcdAction::OfferWithdrawn { agent, call, .. } => {
                prop_assert_eq!(self.offered.remove(&call).map(|(a, _)| a), Some(agent));
            }
            AcdAction::Assigned { call, agent, .. } => {
                prop_assert!(self.waiting.contains_key(&call), "served twice: {:?}", call);
                prop_assert_eq!(self.offered.remove(&call).map(|(a, _)| a), Some(agent));
                self.end(&call);
            }
            AcdAction::Overflowed { call, from, to } => {
                let w = self.waiting.get_mut(&call);
                prop_assert!(w.is_some());
                let w = w.unwrap_or_else(|| unreachable!());
                prop_assert_eq!(&w.queue, &from);
                let max_wait = self.configs[&from].max_wait;
                prop_assert!(now.saturating_duration_since(w.queue_joined) >= max_wait);
                w.queue = to;
                w.queue_joined = now;
                // spill has no strict class: an emergency caller lands in its lowest class.
                w.strict = false;
            }
            AcdAction::TimedOut { call, queue } => {
                let w = self.waiting.get(&call).cloned();
                prop_assert!(w.is_some());
                let w = w.unwrap_or_else(|| unreachable!());
                prop_assert_eq!(&w.queue, &queue);
                prop_assert!(
                    now.saturating_duration_since(w.queue_joined) >= self.configs[&queue].max_wait
                );
                prop_assert!(!self.offered.contains_key(&call));
                self.end(&call);
            }
            AcdAction::CallbackRegistered { call } => {
                let w = self.waiting.get_mut(&call);
                prop_assert!(w.is_some());
                if let Some(w) = w {
                    w.callback = true;
                }
            }
            AcdAction::Position { call, position, .. } => {
                prop_assert!(self.waiting.contains_key(&call));
                if let Some(last) = self.last_position.get(&call) {
                    prop_assert!(position <= *last, "position rose {} -> {}", last, position);
                }
                self.last_position.insert(call, position);
            }
            AcdAction::AgentState { agent, state } => {
                let a = self
                    .agents
                    .entry(agent.clone())
                    .or_insert_with(|| AgentModel {
                        state: AgentState::LoggedOut,
                        english: false,
                        queues: vec![],
                        work: None,
                    });
                if matches!(state, AgentState::Offered { .. }) {
                    prop_assert_eq!(&a.state, &AgentState::Ready, "offered while not ready");
                }
                if !matches!(state, AgentState::Offered { .. } | AgentState::Busy { .. }) {
                    a.work = None;
                }
                a.state = state;
            }
        }
        Ok(())
    }

    fn check(&self, acd: &Acd, now: Instant) -> Result<(), TestCaseError> {
        if let Some(deadline) = acd.poll_timeout() {
            prop_assert!(deadline >= now, "poll_timeout in the past");
        }
        prop_assert_eq!(
            self.joins,
            self.ends + self.waiting.len() as u64,
            "lost a caller"
        );
        for call in (0..CALLS).map(call_id) {
            prop_assert_eq!(acd.is_waiting(&call), self.waiting.contains_key(&call));
        }
        for (call, w) in &self.waiting {
            prop_assert!(
                now.saturating_duration_since(w.queue_joined) < self.configs[&w.queue].max_wait,
                "{:?} waited past max_wait",
                call
            );
        }
        for (call, (agent, since)) in &self.offered {
            prop_assert!(self.waiting.contains_key(call));
            let queue = &self.waiting[call].queue;
            prop_assert!(
                now.saturating_duration_since(*since) < self.configs[queue].offer_timeout,
                "an offer rang past offer_timeout"
            );
            prop_assert_eq!(
                acd.agent_state(agent),
                Some(&AgentState::Offered { call: call.clone() })
            );
        }
        for (id, a) in &self.agents {
            prop_assert_eq!(acd.agent_state(id), Some(&a.state));
        }
        let snapshot = acd.snapshot(now);
        let depth: usize = snapshot.queues.iter().map(|q| q.depth()).sum();
        prop_assert_eq!(depth, self.waiting.len());
        Ok(())
    }
}

struct Driver {
    acd: Acd,
    model: Model,
    now: Instant,
}

impl Driver {
    fn feed(&mut self, input: AcdInput) -> Result<(), TestCaseError> {
        self.acd.handle(self.now, input);
        self.drain()
    }

    fn drain(&mut self) -> Result<(), TestCaseError> {
        while let Some(action) = self.acd.poll_action() {
            self.model.observe(self.now, action)?;
        }
        self.model.just_joined = None;
        self.model.check(&self.acd, self.now)
    }

    fn current_offer(&self, agent: &AgentId) -> Option<CallId> {
        self.model
            .offered
            .iter()
            .find(|(_, (a, _))| a == agent)
            .map(|(c, _)| c.clone())
    }

    fn step(&mut self, op: Op) -> Result<(), TestCaseError> {
        match op {
            Op::Join {
                call,
                spill,
                class,
                english,
            } => {
                let call = call_id(call);
                let queue = QueueId::from(if spill { "spill" } else { "main" });
                // Class 3 is unknown: the ACD falls back to the queue's lowest class.
                let class_name = ["emergency", "vip", "normal", "nonsense"][usize::from(class)];
                let strict = !spill && class == 0;
                if !self.model.waiting.contains_key(&call) {
                    self.model.joins += 1;
                    self.model.just_joined = Some(call.clone());
                    self.model.waiting.insert(
                        call.clone(),
                        Waiting {
                            queue: queue.clone(),
                            strict,
                            english,
                            queue_joined: self.now,
                            callback: false,
                        },
                    );
                }
                self.feed(AcdInput::CallerJoined {
                    call,
                    queue,
                    class: PriorityClass::from(class_name),
                    skills: if english {
                        vec!["english".into()]
                    } else {
                        vec![]
                    },
                    context: CallerContext {
                        line: "test".into(),
                        flow: FlowId::from("test"),
                        path: vec![],
                        values: BTreeMap::new(),
                    },
                })
            }
            Op::Leave { call, reason } => {
                let call = call_id(call);
                let reason = [
                    LeaveReason::Abandoned,
                    LeaveReason::Exited,
                    LeaveReason::HungUp,
                ][usize::from(reason)];
                if let Some(w) = self.model.waiting.get(&call)
                    && (!w.callback || reason == LeaveReason::Exited)
                {
                    self.model.end(&call);
                }
                self.feed(AcdInput::CallerLeft { call, reason })
            }
            Op::Callback { call } => self.feed(AcdInput::CallbackRequested {
                call: call_id(call),
            }),
            Op::AskPosition { call } => self.feed(AcdInput::PositionRequested {
                call: call_id(call),
            }),
            Op::Login { agent, english } => {
                let id = agent_id(agent);
                let entry = self.model.agents.entry(id.clone()).or_insert(AgentModel {
                    state: AgentState::LoggedOut,
                    english,
                    queues: agent_queues(agent),
                    work: None,
                });
                entry.english = english;
                self.feed(AcdInput::AgentLoggedIn {
                    agent: id,
                    skills: if english {
                        vec![("english".into(), 3), ("mandarin".into(), 5)]
                    } else {
                        vec![("mandarin".into(), 5)]
                    },
                    queues: agent_queues(agent),
                })
            }
            Op::Logout { agent } => self.feed(AcdInput::AgentLoggedOut {
                agent: agent_id(agent),
            }),
            Op::Ready { agent } => self.feed(AcdInput::AgentReady {
                agent: agent_id(agent),
            }),
            Op::NotReady { agent } => self.feed(AcdInput::AgentNotReady {
                agent: agent_id(agent),
                reason: "break".into(),
            }),
            Op::Accept { agent } => {
                let agent = agent_id(agent);
                match self.current_offer(&agent) {
                    Some(call) => self.feed(AcdInput::OfferAccepted { agent, call }),
                    None => self.feed(AcdInput::OfferAccepted {
                        agent,
                        call: call_id(0),
                    }),
                }
            }
            Op::Reject { agent } => {
                let agent = agent_id(agent);
                if let Some(call) = self.current_offer(&agent) {
                    // The rejection ends the offer without an action of its own.
                    self.model.offered.remove(&call);
                    self.feed(AcdInput::OfferRejected { agent, call })
                } else {
                    Ok(())
                }
            }
            Op::StaleAccept { agent, call } => {
                let agent = agent_id(agent);
                let call = call_id(call);
                if self.current_offer(&agent).as_ref() == Some(&call) {
                    return Ok(());
                }
                self.feed(AcdInput::OfferAccepted { agent, call })
            }
            Op::CallEnded { agent } => self.feed(AcdInput::AgentCallEnded {
                agent: agent_id(agent),
            }),
            Op::WrapUpDone { agent } => self.feed(AcdInput::WrapUpDone {
                agent: agent_id(agent),
            }),
            Op::Advance { millis } => {
                let end = self.now + Duration::from_millis(millis);
                while let Some(deadline) = self.acd.poll_timeout().filter(|d| *d <= end) {
                    self.now = deadline;
                    self.acd.handle_timeout(deadline);
                    self.drain()?;
                }
                self.now = end;
                self.acd.handle_timeout(end);
                self.drain()
            }
            Op::Jump { millis, call } => {
                self.now += Duration::from_millis(millis);
                self.feed(AcdInput::PositionRequested {
                    call: call_id(call),
                })
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn acd_keeps_its_promises_under_any_interleaving(ops in prop::collection::vec(op(), 1..150)) {
        let mut driver = Driver {
            acd: Acd::new(queues().into_iter().map(Arc::new)),
            model: Model::new(),
            now: Instant::now(),
        };
        for op in ops {
            driver.step(op)?;
        }
        let waiting: BTreeSet<CallId> = driver.model.waiting.keys().cloned().collect();
        for call in &waiting {
            prop_assert!(driver.acd.is_waiting(call));
        }
    }
}
