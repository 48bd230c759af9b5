//! Test fixtures shared by the actor's tests: a one-queue config, a static agent, a join
//! request and a running actor with metrics. Test-only; it must not grow test cases.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::handle::{AcdHandle, ActorSettings, JoinRequest};
use crate::flow::model::{AnnounceConfig, ClassConfig, QueueConfig};
use crate::ids::{AgentId, CallId, FlowId, PriorityClass, PromptId, QueueId};
use crate::queue::CallerContext;
use crate::queue::agents::AgentEntry;
use crate::telemetry::Metrics;

fn class(name: &str, strict: bool) -> ClassConfig {
    ClassConfig {
        name: PriorityClass::from(name),
        strict,
        max_agent_share: if strict { 0.5 } else { 0.0 },
        base_priority: 0.0,
        aging_per_second: 0.1,
    }
}

pub(super) fn general() -> Arc<QueueConfig> {
    Arc::new(QueueConfig {
        id: QueueId::from("general"),
        name: "general".into(),
        classes: vec![class("emergency", true), class("normal", false)],
        max_wait: Duration::from_secs(600),
        overflow: None,
        max_size: 10,
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
        offer_timeout: Duration::from_secs(15),
        join_without_agents: true,
    })
}

pub(super) fn static_agent(id: &str) -> AgentEntry {
    AgentEntry {
        id: AgentId::from(id),
        name: format!("Agent {id}"),
        sip: format!("sip:{id}@pbx.test"),
        skills: BTreeMap::new(),
        queues: vec![QueueId::from("general")],
    }
}

pub(super) fn join(call: &str, class: &str) -> JoinRequest {
    JoinRequest {
        call: CallId::from(call),
        queue: QueueId::from("general"),
        class: PriorityClass::from(class),
        skills: vec![],
        context: CallerContext {
            line: "95017".into(),
            flow: FlowId::from("hotline"),
            path: vec![],
            values: BTreeMap::from([("tier".to_owned(), "gold".to_owned())]),
        },
        caller_masked: Some("+86138******00".into()),
    }
}

pub(super) fn start() -> (AcdHandle, Metrics, CancellationToken) {
    let metrics = Metrics::new().unwrap();
    let stop = CancellationToken::new();
    let (h, _task) = AcdHandle::spawn(
        vec![general()],
        vec![static_agent("a1")],
        Some(metrics.clone()),
        ActorSettings::default(),
        stop.clone(),
    );
    (h, metrics, stop)
}
