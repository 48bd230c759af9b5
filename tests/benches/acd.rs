//! ACD dispatch throughput: one queue with 500 callers waiting (emergency, vip and normal
//! mixed, some needing a skill) and 100 agents. One iteration is one dispatch cycle: an
//! agent's call ends, the ACD picks the next caller and offers it, the agent accepts, and a
//! new caller joins so the line stays at 500.
//!
//! Run: `cargo bench --bench acd` (reports dispatches per second as elements/s).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ivr::flow::model::{AnnounceConfig, ClassConfig, QueueConfig};
use ivr::ids::{AgentId, CallId, FlowId, PriorityClass, PromptId, QueueId};
use ivr::queue::{Acd, AcdAction, AcdInput, CallerContext};

const WAITING: usize = 500;
const AGENTS: usize = 100;

fn class(name: &str, strict: bool, base: f64) -> ClassConfig {
    ClassConfig {
        name: PriorityClass::from(name),
        strict,
        max_agent_share: if strict { 0.3 } else { 0.0 },
        base_priority: base,
        aging_per_second: 0.1,
    }
}

fn general() -> QueueConfig {
    QueueConfig {
        id: QueueId::from("general"),
        name: "general".into(),
        classes: vec![
            class("emergency", true, 0.0),
            class("vip", false, 20.0),
            class("normal", false, 0.0),
        ],
        max_wait: Duration::from_secs(24 * 3600),
        overflow: None,
        max_size: 2 * WAITING,
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
        wrap_up: Duration::ZERO,
        offer_timeout: Duration::from_secs(15),
        join_without_agents: true,
    }
}

struct Bench {
    acd: Acd,
    now: Instant,
    next_call: usize,
    next_agent: usize,
}

impl Bench {
    fn join(&mut self) {
        let n = self.next_call;
        self.next_call += 1;
        let class = match n % 20 {
            0 => "emergency",
            1..=4 => "vip",
            _ => "normal",
        };
        let skills = if n.is_multiple_of(7) {
            vec!["english".to_owned()]
        } else {
            vec![]
        };
        self.acd.handle(
            self.now,
            AcdInput::CallerJoined {
                call: CallId::new(format!("c{n}")),
                queue: QueueId::from("general"),
                class: PriorityClass::from(class),
                skills,
                context: CallerContext {
                    line: "95017".into(),
                    flow: FlowId::from("general-line"),
                    path: vec![],
                    values: Default::default(),
                },
            },
        );
    }

    /// Accepts every offer in the pending actions; returns how many.
    fn accept_offers(&mut self) -> usize {
        let offers: Vec<(AgentId, CallId)> = std::iter::from_fn(|| self.acd.poll_action())
            .filter_map(|a| match a {
                AcdAction::Offer(o) => Some((o.agent, o.call)),
                _ => None,
            })
            .collect();
        for (agent, call) in &offers {
            self.acd.handle(
                self.now,
                AcdInput::OfferAccepted {
                    agent: agent.clone(),
                    call: call.clone(),
                },
            );
        }
        while self.acd.poll_action().is_some() {}
        offers.len()
    }

    /// 100 agents all busy, 500 callers waiting.
    fn new() -> Self {
        let mut bench = Bench {
            acd: Acd::new([Arc::new(general())]),
            now: Instant::now(),
            next_call: 0,
            next_agent: 0,
        };
        for a in 0..AGENTS {
            let mut skills = vec![("mandarin".to_owned(), 5)];
            if a.is_multiple_of(3) {
                skills.push(("english".to_owned(), 3));
            }
            bench.acd.handle(
                bench.now,
                AcdInput::AgentLoggedIn {
                    agent: AgentId::new(format!("a{a}")),
                    skills,
                    queues: vec![QueueId::from("general")],
                },
            );
        }
        for _ in 0..AGENTS + WAITING {
            bench.now += Duration::from_millis(100);
            bench.join();
            bench.accept_offers();
        }
        bench
    }

    /// One dispatch cycle; returns the offers made (1).
    fn cycle(&mut self) -> usize {
        self.now += Duration::from_millis(10);
        let agent = AgentId::new(format!("a{}", self.next_agent));
        self.next_agent = (self.next_agent + 1) % AGENTS;
        self.acd
            .handle(self.now, AcdInput::AgentCallEnded { agent });
        let offered = self.accept_offers();
        self.join();
        while self.acd.poll_action().is_some() {}
        offered
    }
}

fn dispatch(c: &mut Criterion) {
    let mut bench = Bench::new();
    let snapshot = bench.acd.snapshot(bench.now);
    assert_eq!(snapshot.queues[0].depth(), WAITING);
    assert_eq!(snapshot.agents_by_state()["busy"], AGENTS);
    let mut group = c.benchmark_group("acd");
    group.throughput(Throughput::Elements(1));
    group.bench_function("dispatch_500_waiting_100_agents", |b| {
        b.iter(|| black_box(bench.cycle()))
    });
    group.finish();
    let snapshot = bench.acd.snapshot(bench.now);
    assert_eq!(snapshot.queues[0].depth(), WAITING, "line stayed at 500");
}

criterion_group!(benches, dispatch);
criterion_main!(benches);
