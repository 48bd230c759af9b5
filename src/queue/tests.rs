//! Scenario tests of the ACD driven with a virtual clock.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::flow::model::{AnnounceConfig, ClassConfig, QueueConfig};
use crate::ids::{AgentId, CallId, FlowId, PriorityClass, PromptId, QueueId};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn class(name: &str, strict: bool, share: f64, base: f64, aging: f64) -> ClassConfig {
    ClassConfig {
        name: PriorityClass::from(name),
        strict,
        max_agent_share: share,
        base_priority: base,
        aging_per_second: aging,
    }
}

/// A general-line queue: emergency (strict, half the agents), vip (base 20), normal (base 0),
/// both aging 0.1 per second.
fn general(id: &str) -> QueueConfig {
    QueueConfig {
        id: QueueId::from(id),
        name: id.to_owned(),
        classes: vec![
            class("emergency", true, 0.5, 0.0, 0.0),
            class("vip", false, 0.0, 20.0, 0.1),
            class("normal", false, 0.0, 0.0, 0.1),
        ],
        max_wait: secs(900),
        overflow: None,
        max_size: 100,
        service_level: secs(20),
        skills: vec![],
        hold_music: PromptId::from("hold_music"),
        announce: AnnounceConfig {
            first_after: secs(20),
            every: secs(45),
            position: true,
            wait_time: true,
            messages: vec![],
        },
        wrap_up: secs(10),
        offer_timeout: secs(15),
        join_without_agents: true,
    }
}

struct Harness {
    acd: Acd,
    start: Instant,
    now: Instant,
}

impl Harness {
    fn new(queues: Vec<QueueConfig>) -> Self {
        let start = Instant::now();
        Self {
            acd: Acd::new(queues.into_iter().map(Arc::new)),
            start,
            now: start,
        }
    }

    fn at(&mut self, t: Duration) -> &mut Self {
        self.now = self.start + t;
        self
    }

    fn input(&mut self, input: AcdInput) -> Vec<AcdAction> {
        self.acd.handle(self.now, input);
        self.drain()
    }

    /// Runs time forward to `t`, firing every timer due on the way, like the shell would.
    fn run_until(&mut self, t: Duration) -> Vec<AcdAction> {
        let end = self.start + t;
        let mut out = Vec::new();
        while let Some(deadline) = self.acd.poll_timeout().filter(|d| *d <= end) {
            self.now = deadline;
            self.acd.handle_timeout(deadline);
            out.extend(self.drain());
        }
        self.now = end;
        self.acd.handle_timeout(end);
        out.extend(self.drain());
        out
    }

    fn drain(&mut self) -> Vec<AcdAction> {
        std::iter::from_fn(|| self.acd.poll_action()).collect()
    }

    fn join(&mut self, call: &str, queue: &str, class: &str) -> Vec<AcdAction> {
        self.join_with_skills(call, queue, class, &[])
    }

    fn join_with_skills(
        &mut self,
        call: &str,
        queue: &str,
        class: &str,
        skills: &[&str],
    ) -> Vec<AcdAction> {
        self.input(AcdInput::CallerJoined {
            call: CallId::from(call),
            queue: QueueId::from(queue),
            class: PriorityClass::from(class),
            skills: skills.iter().map(|s| s.to_string()).collect(),
            context: CallerContext {
                line: "95017".into(),
                flow: FlowId::from("general-line"),
                path: vec![],
                values: Default::default(),
            },
        })
    }

    fn login(&mut self, agent: &str, queues: &[&str], skills: &[(&str, u8)]) -> Vec<AcdAction> {
        self.input(AcdInput::AgentLoggedIn {
            agent: AgentId::from(agent),
            skills: skills.iter().map(|(s, l)| (s.to_string(), *l)).collect(),
            queues: queues.iter().map(|q| QueueId::from(*q)).collect(),
        })
    }

    fn accept(&mut self, agent: &str, call: &str) -> Vec<AcdAction> {
        self.input(AcdInput::OfferAccepted {
            agent: AgentId::from(agent),
            call: CallId::from(call),
        })
    }

    fn not_ready(&mut self, agent: &str) -> Vec<AcdAction> {
        self.input(AcdInput::AgentNotReady {
            agent: AgentId::from(agent),
            reason: "break".into(),
        })
    }

    fn ready(&mut self, agent: &str) -> Vec<AcdAction> {
        self.input(AcdInput::AgentReady {
            agent: AgentId::from(agent),
        })
    }
}

/// (agent, call) of every offer in `actions`, in order.
fn offers(actions: &[AcdAction]) -> Vec<(String, String)> {
    actions
        .iter()
        .filter_map(|a| match a {
            AcdAction::Offer(o) => Some((o.agent.to_string(), o.call.to_string())),
            _ => None,
        })
        .collect()
}

fn offer_of(actions: &[AcdAction]) -> &Offer {
    actions
        .iter()
        .find_map(|a| match a {
            AcdAction::Offer(o) => Some(o),
            _ => None,
        })
        .expect("an offer")
}

fn positions(actions: &[AcdAction], call: &str) -> Vec<(u32, Option<Duration>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            AcdAction::Position {
                call: c,
                position,
                estimated_wait,
            } if c.as_str() == call => Some((*position, *estimated_wait)),
            _ => None,
        })
        .collect()
}

fn pair(agent: &str, call: &str) -> (String, String) {
    (agent.to_owned(), call.to_owned())
}

#[test]
fn emergency_caller_is_served_before_earlier_normal_callers() {
    let mut h = Harness::new(vec![general("general")]);
    h.join("n1", "general", "normal");
    h.at(secs(5)).join("n2", "general", "normal");
    h.at(secs(10)).join("e1", "general", "emergency");
    let out = h.at(secs(11)).login("a1", &["general"], &[]);
    assert_eq!(offers(&out), vec![pair("a1", "e1")]);
    assert_eq!(offer_of(&out).why.rule, DispatchRule::StrictLane);
    assert_eq!(offer_of(&out).class, PriorityClass::from("emergency"));
    assert_eq!(offer_of(&out).waited, secs(1));
}

#[test]
fn strict_cap_leaves_agents_for_the_normal_lane() {
    let mut h = Harness::new(vec![general("general")]);
    for a in ["a1", "a2", "a3", "a4"] {
        h.login(a, &["general"], &[]);
        h.not_ready(a);
    }
    for (i, call) in ["e1", "e2", "e3"].iter().enumerate() {
        h.at(secs(i as u64)).join(call, "general", "emergency");
    }
    h.at(secs(5)).join("n1", "general", "normal");
    h.at(secs(6)).join("n2", "general", "normal");
    let mut all = Vec::new();
    for a in ["a1", "a2", "a3", "a4"] {
        all.extend(h.ready(a));
    }
    // Four agents, share 0.5: two take the emergency lane, two stay with the general line.
    assert_eq!(
        offers(&all),
        vec![
            pair("a1", "e1"),
            pair("a2", "e2"),
            pair("a3", "n1"),
            pair("a4", "n2")
        ]
    );
    assert!(h.acd.is_waiting(&CallId::from("e3")));
}

#[test]
fn idle_agent_takes_a_strict_caller_over_the_cap_when_nothing_else_waits() {
    let mut h = Harness::new(vec![general("general")]);
    h.login("a1", &["general"], &[]);
    h.login("a2", &["general"], &[]);
    h.not_ready("a2");
    h.join("e1", "general", "emergency");
    let out = h.at(secs(1)).join("e2", "general", "emergency");
    assert!(offers(&out).is_empty(), "a1 is already on e1");
    let out = h.at(secs(2)).ready("a2");
    assert_eq!(offers(&out), vec![pair("a2", "e2")]);
    assert_eq!(offer_of(&out).why.rule, DispatchRule::StrictLaneIdleAgent);
}

#[test]
fn aging_lets_an_old_normal_caller_overtake_a_new_vip_caller() {
    let mut h = Harness::new(vec![general("general")]);
    h.login("a1", &["general"], &[]);
    h.not_ready("a1");
    h.join("old", "general", "normal");
    // At 300 s: old scores 0 + 0.1 × 300 = 30; vip joined at 290 scores 20 + 1 = 21.
    h.at(secs(290)).join("vip", "general", "vip");
    let out = h.at(secs(300)).ready("a1");
    assert_eq!(offers(&out), vec![pair("a1", "old")]);
    match offer_of(&out).why.rule {
        DispatchRule::Priority { score } => assert!((score - 30.0).abs() < 1e-9),
        other => panic!("unexpected rule {other:?}"),
    }
}

#[test]
fn a_new_vip_caller_goes_before_a_normal_caller_who_has_not_aged_enough() {
    let mut h = Harness::new(vec![general("general")]);
    h.login("a1", &["general"], &[]);
    h.not_ready("a1");
    h.join("normal", "general", "normal");
    h.at(secs(50)).join("vip", "general", "vip");
    let out = h.at(secs(60)).ready("a1");
    assert_eq!(offers(&out), vec![pair("a1", "vip")]);
}

#[test]
fn max_wait_moves_the_caller_to_the_overflow_queue_keeping_class_and_seniority() {
    let mut main = general("general");
    main.max_wait = secs(60);
    main.overflow = Some(QueueId::from("backup"));
    let mut h = Harness::new(vec![main, general("backup")]);
    h.join("early", "general", "normal");
    h.at(secs(30)).join("later", "backup", "normal");
    let out = h.run_until(secs(60));
    assert!(out.contains(&AcdAction::Overflowed {
        call: CallId::from("early"),
        from: QueueId::from("general"),
        to: QueueId::from("backup"),
    }));
    // It keeps its original join time: ahead of the caller who joined backup at 30 s.
    let out = h.at(secs(61)).login("b1", &["backup"], &[]);
    assert_eq!(offers(&out), vec![pair("b1", "early")]);
    assert_eq!(offer_of(&out).class, PriorityClass::from("normal"));
    assert_eq!(offer_of(&out).waited, secs(61));
    let snap = h.acd.snapshot(h.now);
    let general = snap.queue(&QueueId::from("general")).expect("queue");
    assert_eq!(general.counters.overflowed, 1);
    assert_eq!(general.depth(), 0);
}

#[test]
fn max_wait_without_an_overflow_queue_times_the_caller_out() {
    let mut q = general("general");
    q.max_wait = secs(60);
    let mut h = Harness::new(vec![q]);
    h.join("c1", "general", "normal");
    assert!(h.run_until(secs(59)).is_empty());
    let out = h.run_until(secs(60));
    assert_eq!(
        out,
        vec![AcdAction::TimedOut {
            call: CallId::from("c1"),
            queue: QueueId::from("general")
        }]
    );
    assert!(!h.acd.is_waiting(&CallId::from("c1")));
}

#[test]
fn callback_keeps_the_callers_place_and_is_offered_as_a_callback() {
    let mut h = Harness::new(vec![general("general")]);
    h.login("a1", &["general"], &[]);
    h.not_ready("a1");
    h.join("first", "general", "normal");
    h.at(secs(1)).join("second", "general", "normal");
    let out = h.at(secs(2)).input(AcdInput::CallbackRequested {
        call: CallId::from("first"),
    });
    assert_eq!(
        out,
        vec![AcdAction::CallbackRegistered {
            call: CallId::from("first")
        }]
    );
    // The caller then hangs up: the entry stays in line.
    h.at(secs(3)).input(AcdInput::CallerLeft {
        call: CallId::from("first"),
        reason: LeaveReason::HungUp,
    });
    assert!(h.acd.is_waiting(&CallId::from("first")));
    let out = h.at(secs(4)).ready("a1");
    assert_eq!(offers(&out), vec![pair("a1", "first")]);
    assert!(offer_of(&out).callback);
    let out = h.at(secs(5)).accept("a1", "first");
    assert!(out.iter().any(|a| matches!(
        a,
        AcdAction::Assigned { call, callback: true, .. } if call.as_str() == "first"
    )));
}

#[test]
fn an_unanswered_offer_moves_on_to_the_next_agent() {
    let mut h = Harness::new(vec![general("general")]);
    h.login("a1", &["general"], &[]);
    h.login("a2", &["general"], &[]);
    let out = h.at(secs(1)).join("c1", "general", "normal");
    assert_eq!(offers(&out), vec![pair("a1", "c1")]);
    let out = h.run_until(secs(16));
    assert!(out.contains(&AcdAction::OfferWithdrawn {
        agent: AgentId::from("a1"),
        call: CallId::from("c1"),
        reason: WithdrawReason::Missed,
    }));
    assert_eq!(offers(&out), vec![pair("a2", "c1")]);
}

#[test]
fn three_missed_offers_in_a_row_set_the_agent_not_ready() {
    let mut h = Harness::new(vec![general("general")]);
    h.login("a1", &["general"], &[]);
    h.join("c1", "general", "normal");
    let out = h.run_until(secs(15 * 3));
    assert_eq!(
        offers(&out),
        vec![pair("a1", "c1"), pair("a1", "c1")],
        "re-offered to the only agent"
    );
    assert_eq!(
        h.acd.agent_state(&AgentId::from("a1")),
        Some(&AgentState::NotReady {
            reason: MISSED_OFFERS_REASON.into()
        })
    );
    assert!(h.acd.is_waiting(&CallId::from("c1")));
}

#[test]
fn an_accepted_offer_resets_the_missed_count() {
    let mut h = Harness::new(vec![general("general")]);
    h.login("a1", &["general"], &[]);
    h.join("c1", "general", "normal");
    h.run_until(secs(31)); // two misses
    h.accept("a1", "c1");
    let snap = h.acd.snapshot(h.now);
    assert_eq!(snap.agents[0].missed_in_a_row, 0);
}

#[test]
fn wrap_up_holds_the_agent_until_it_ends() {
    let mut h = Harness::new(vec![general("general")]);
    h.login("a1", &["general"], &[]);
    h.join("c1", "general", "normal");
    h.accept("a1", "c1");
    h.at(secs(1)).join("c2", "general", "normal");
    let out = h.at(secs(60)).input(AcdInput::AgentCallEnded {
        agent: AgentId::from("a1"),
    });
    assert!(offers(&out).is_empty());
    assert_eq!(
        h.acd.agent_state(&AgentId::from("a1")),
        Some(&AgentState::WrapUp)
    );
    assert!(offers(&h.run_until(secs(69))).is_empty());
    let out = h.run_until(secs(70));
    assert_eq!(offers(&out), vec![pair("a1", "c2")]);
}

#[test]
fn wrap_up_done_makes_the_agent_ready_early() {
    let mut h = Harness::new(vec![general("general")]);
    h.login("a1", &["general"], &[]);
    h.join("c1", "general", "normal");
    h.accept("a1", "c1");
    h.at(secs(1)).join("c2", "general", "normal");
    h.at(secs(20)).input(AcdInput::AgentCallEnded {
        agent: AgentId::from("a1"),
    });
    let out = h.at(secs(22)).input(AcdInput::WrapUpDone {
        agent: AgentId::from("a1"),
    });
    assert_eq!(offers(&out), vec![pair("a1", "c2")]);
}

#[test]
fn not_ready_asked_while_busy_applies_after_wrap_up() {
    let mut h = Harness::new(vec![general("general")]);
    h.login("a1", &["general"], &[]);
    h.join("c1", "general", "normal");
    h.accept("a1", "c1");
    h.not_ready("a1");
    assert_eq!(
        h.acd.agent_state(&AgentId::from("a1")),
        Some(&AgentState::Busy {
            call: CallId::from("c1")
        })
    );
    h.at(secs(5)).input(AcdInput::AgentCallEnded {
        agent: AgentId::from("a1"),
    });
    h.run_until(secs(15));
    assert_eq!(
        h.acd.agent_state(&AgentId::from("a1")),
        Some(&AgentState::NotReady {
            reason: "break".into()
        })
    );
}

#[test]
fn the_longest_idle_agent_gets_the_offer() {
    let mut h = Harness::new(vec![general("general")]);
    h.login("a1", &["general"], &[]);
    h.login("a2", &["general"], &[]);
    h.login("a3", &["general"], &[]);
    h.not_ready("a1");
    h.at(secs(1)).ready("a1"); // a1 is now the most recently idle
    let out = h.at(secs(2)).join("c1", "general", "normal");
    assert_eq!(offers(&out), vec![pair("a2", "c1")]);
    let out = h.at(secs(3)).join("c2", "general", "normal");
    assert_eq!(offers(&out), vec![pair("a3", "c2")]);
}

#[test]
fn an_agent_keeps_its_idle_place_when_the_caller_hangs_up_during_the_offer() {
    let mut h = Harness::new(vec![general("general")]);
    h.login("a1", &["general"], &[]);
    h.login("a2", &["general"], &[]);
    h.join("c1", "general", "normal");
    let out = h.at(secs(1)).input(AcdInput::CallerLeft {
        call: CallId::from("c1"),
        reason: LeaveReason::Abandoned,
    });
    assert!(out.contains(&AcdAction::OfferWithdrawn {
        agent: AgentId::from("a1"),
        call: CallId::from("c1"),
        reason: WithdrawReason::CallerGone,
    }));
    let out = h.at(secs(2)).join("c2", "general", "normal");
    assert_eq!(offers(&out), vec![pair("a1", "c2")]);
    let snap = h.acd.snapshot(h.now);
    assert_eq!(snap.queues[0].counters.abandoned, 1);
}

#[test]
fn a_rejecting_agent_is_passed_over_for_that_caller() {
    let mut h = Harness::new(vec![general("general")]);
    h.login("a1", &["general"], &[]);
    h.login("a2", &["general"], &[]);
    h.join("c1", "general", "normal");
    let out = h.input(AcdInput::OfferRejected {
        agent: AgentId::from("a1"),
        call: CallId::from("c1"),
    });
    assert_eq!(offers(&out), vec![pair("a2", "c1")]);
}

#[test]
fn a_caller_needing_a_skill_goes_to_an_agent_who_has_it_then_routing_widens() {
    let mut h = Harness::new(vec![general("general")]);
    h.login("zh", &["general"], &[("mandarin", 5)]);
    h.join_with_skills("c1", "general", "normal", &["english"]);
    assert!(h.acd.is_waiting(&CallId::from("c1")));
    let out = h.at(secs(5)).login("en", &["general"], &[("english", 3)]);
    assert_eq!(offers(&out), vec![pair("en", "c1")]);
    assert_eq!(
        offer_of(&out).why.skills_matched,
        vec![("english".to_owned(), 3)]
    );
    h.accept("en", "c1");
    // A second English caller finds no English agent free: after 30 s any agent will do.
    h.at(secs(6))
        .join_with_skills("c2", "general", "normal", &["english"]);
    assert!(offers(&h.run_until(secs(35))).is_empty());
    let out = h.run_until(secs(36));
    assert_eq!(offers(&out), vec![pair("zh", "c2")]);
    assert!(offer_of(&out).why.widened);
}

#[test]
fn a_full_queue_rejects_the_caller() {
    let mut q = general("general");
    q.max_size = 1;
    let mut h = Harness::new(vec![q]);
    h.join("c1", "general", "normal");
    let out = h.join("c2", "general", "normal");
    assert_eq!(
        out,
        vec![AcdAction::Rejected {
            call: CallId::from("c2"),
            queue: QueueId::from("general"),
            reason: RejectReason::Full,
        }]
    );
}

#[test]
fn joining_without_agents_is_refused_when_the_queue_says_so() {
    let mut q = general("general");
    q.join_without_agents = false;
    let mut h = Harness::new(vec![q]);
    let out = h.join("c1", "general", "normal");
    assert_eq!(
        out,
        vec![AcdAction::Rejected {
            call: CallId::from("c1"),
            queue: QueueId::from("general"),
            reason: RejectReason::NoAgents,
        }]
    );
    h.login("a1", &["general"], &[]);
    h.not_ready("a1");
    let out = h.join("c2", "general", "normal");
    assert_eq!(positions(&out, "c2"), vec![(0, None)]);
}

#[test]
fn position_never_rises_when_a_strict_caller_arrives() {
    let mut h = Harness::new(vec![general("general")]);
    h.join("n1", "general", "normal");
    let out = h.at(secs(1)).join("n2", "general", "normal");
    assert_eq!(positions(&out, "n2"), vec![(1, None)]);
    let out = h.at(secs(2)).join("e1", "general", "emergency");
    assert!(positions(&out, "n2").is_empty(), "no worse news announced");
    let out = h.at(secs(3)).input(AcdInput::PositionRequested {
        call: CallId::from("n2"),
    });
    assert_eq!(positions(&out, "n2"), vec![(1, None)]);
    // Once the line really moves past the announced number, it is announced again.
    h.at(secs(4)).input(AcdInput::CallerLeft {
        call: CallId::from("e1"),
        reason: LeaveReason::Abandoned,
    });
    let out = h.at(secs(5)).input(AcdInput::CallerLeft {
        call: CallId::from("n1"),
        reason: LeaveReason::Exited,
    });
    assert_eq!(positions(&out, "n2"), vec![(0, None)]);
}

#[test]
fn estimated_wait_is_unknown_without_data_and_follows_the_service_rate() {
    let mut h = Harness::new(vec![general("general")]);
    h.login("a1", &["general"], &[]);
    let out = h.join("c0", "general", "normal");
    assert_eq!(positions(&out, "c0"), vec![(0, None)], "cannot estimate");
    // Three answers in the first 60 s: 3 per minute.
    h.accept("a1", "c0");
    for (i, call) in ["c1", "c2"].iter().enumerate() {
        let t = secs(20 * (i as u64 + 1));
        h.at(t).input(AcdInput::AgentCallEnded {
            agent: AgentId::from("a1"),
        });
        h.input(AcdInput::WrapUpDone {
            agent: AgentId::from("a1"),
        });
        h.join(call, "general", "normal");
        h.accept("a1", call);
    }
    h.at(secs(60)).join("x", "general", "normal");
    let out = h.join("y", "general", "normal");
    // y has one caller ahead: (1 + 1) / (3 / 60 s) = 40 s.
    assert_eq!(positions(&out, "y"), vec![(1, Some(secs(40)))]);
    let snap = h.acd.snapshot(h.now);
    let rate = snap.queues[0].service_rate_per_minute.expect("rate");
    assert!((rate - 3.0).abs() < 1e-9);
    assert_eq!(snap.queues[0].service_level, Some(1.0));
}

#[test]
fn snapshot_reports_depth_per_class_oldest_wait_and_agents_by_state() {
    let mut h = Harness::new(vec![general("general")]);
    h.login("a1", &["general"], &[]);
    h.not_ready("a1");
    h.join("n1", "general", "normal");
    h.at(secs(3)).join("e1", "general", "emergency");
    h.at(secs(4)).join("n2", "general", "normal");
    let snap = h.acd.snapshot(h.start + secs(10));
    let q = snap.queue(&QueueId::from("general")).expect("queue");
    assert_eq!(
        q.depth_by_class,
        vec![
            (PriorityClass::from("emergency"), 1),
            (PriorityClass::from("vip"), 0),
            (PriorityClass::from("normal"), 2)
        ]
    );
    assert_eq!(q.oldest_wait, Some(secs(10)));
    assert_eq!(q.counters.entered, 3);
    assert_eq!(q.service_level, None);
    assert_eq!(q.service_rate_per_minute, None);
    assert_eq!(snap.agents_by_state()["not_ready"], 1);
    assert_eq!(snap.agents_by_state()["ready"], 0);
}

#[test]
fn stale_and_unknown_inputs_are_dropped_and_counted() {
    let mut h = Harness::new(vec![general("general")]);
    h.login("a1", &["general"], &[]);
    h.join("c1", "general", "normal");
    let before = h.acd.snapshot(h.now).dropped_inputs;
    assert!(h.accept("a1", "nobody").is_empty());
    assert!(h.accept("ghost", "c1").is_empty());
    assert!(h.join("c1", "general", "normal").is_empty());
    let out = h.join("c9", "nowhere", "normal");
    assert_eq!(
        out,
        vec![AcdAction::Rejected {
            call: CallId::from("c9"),
            queue: QueueId::from("nowhere"),
            reason: RejectReason::UnknownQueue,
        }]
    );
    assert_eq!(h.acd.snapshot(h.now).dropped_inputs, before + 3);
}

#[test]
fn time_going_backwards_counts_as_no_time_passing() {
    let mut h = Harness::new(vec![general("general")]);
    h.at(secs(100)).join("c1", "general", "normal");
    let deadline = h.acd.poll_timeout().expect("max wait armed");
    assert_eq!(deadline, h.start + secs(1000));
    h.at(secs(50)).join("c2", "general", "normal");
    let snap = h.acd.snapshot(h.start + secs(100));
    assert_eq!(snap.queues[0].oldest_wait, Some(Duration::ZERO));
}

#[test]
fn an_emergency_caller_overflowing_to_a_queue_without_that_class_lands_in_its_lowest_class() {
    let mut main = general("general");
    main.max_wait = secs(60);
    main.overflow = Some(QueueId::from("backup"));
    let mut backup = general("backup");
    backup.classes.remove(0);
    let mut h = Harness::new(vec![main, backup]);
    h.join("e1", "general", "emergency");
    h.run_until(secs(60));
    let snap = h.acd.snapshot(h.now);
    let backup = snap.queue(&QueueId::from("backup")).expect("queue");
    assert_eq!(
        backup.depth_by_class,
        vec![
            (PriorityClass::from("vip"), 0),
            (PriorityClass::from("normal"), 1)
        ]
    );
    assert_eq!(backup.counters.entered, 1);
}

#[test]
fn a_caller_who_overflowed_once_times_out_instead_of_bouncing_back() {
    let mut a = general("a");
    a.max_wait = secs(60);
    a.overflow = Some(QueueId::from("b"));
    let mut b = general("b");
    b.max_wait = secs(30);
    b.overflow = Some(QueueId::from("a"));
    let mut h = Harness::new(vec![a, b]);
    h.join("c1", "a", "normal");
    let out = h.run_until(secs(90));
    assert_eq!(
        out.into_iter()
            .filter(|a| !matches!(a, AcdAction::Position { .. }))
            .collect::<Vec<_>>(),
        vec![
            AcdAction::Overflowed {
                call: CallId::from("c1"),
                from: QueueId::from("a"),
                to: QueueId::from("b"),
            },
            AcdAction::TimedOut {
                call: CallId::from("c1"),
                queue: QueueId::from("b"),
            }
        ]
    );
}

#[test]
fn a_reload_keeps_waiting_callers_and_retires_removed_queues_once_empty() {
    let mut h = Harness::new(vec![general("general"), general("old")]);
    h.login("a1", &["general"], &[]);
    h.not_ready("a1");
    h.join("v1", "general", "vip");
    h.join("o1", "old", "normal");
    // The new general queue drops the vip class and the old queue is gone.
    let mut new_general = general("general");
    new_general.classes.remove(1);
    h.acd
        .reconfigure(h.start + secs(1), [Arc::new(new_general)]);
    h.drain();
    let snap = h.acd.snapshot(h.start + secs(1));
    let general = snap
        .queue(&QueueId::from("general"))
        .expect("general stays");
    assert_eq!(
        general.depth_by_class,
        vec![
            (PriorityClass::from("emergency"), 0),
            (PriorityClass::from("normal"), 1)
        ]
    );
    assert_eq!(general.counters.entered, 1);
    assert!(
        h.acd.is_waiting(&CallId::from("o1")),
        "callers of a retired queue wait on"
    );
    let out = h.at(secs(2)).join("o2", "old", "normal");
    assert!(matches!(
        out.as_slice(),
        [AcdAction::Rejected {
            reason: RejectReason::UnknownQueue,
            ..
        }]
    ));
    h.at(secs(3)).input(AcdInput::CallerLeft {
        call: CallId::from("o1"),
        reason: LeaveReason::Abandoned,
    });
    assert!(h.acd.snapshot(h.now).queue(&QueueId::from("old")).is_none());
}
