//! The actor task: the only owner of the sans-IO [`Acd`]. Each turn waits for one thing (a
//! command, the ACD's deadline, the metrics tick, shutdown), reads the clock once and
//! dispatches: commands become ACD inputs, agent requests are checked first, the snapshot
//! gauges are refreshed.
//!
//! It must not block: no file or socket I/O, and every send is non-blocking. Where the ACD's
//! actions go is `route`'s job, not this file's.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::handle::{
    ActorSettings, AgentApiError, AgentCommand, Command, LoginRequest, QueueNotice,
};
use super::views::{AgentEvent, AgentView};
use crate::flow::model::QueueConfig;
use crate::ids::{AgentId, CallId, PriorityClass, QueueId};
use crate::queue::agents::{AgentEntry, MAX_SKILL_LEVEL};
use crate::queue::{Acd, AcdInput, LeaveReason, Offer};
use crate::telemetry::Metrics;

/// What the actor knows about an agent beyond the ACD's state.
#[derive(Clone, Debug)]
pub(super) struct AgentInfo {
    pub(super) name: Option<String>,
    pub(super) sip: String,
    pub(super) skills: BTreeMap<String, u8>,
    pub(super) queues: Vec<QueueId>,
}

/// A call the ACD holds, with what metrics and offers need.
#[derive(Debug)]
pub(super) struct Waiting {
    pub(super) queue: QueueId,
    pub(super) class: PriorityClass,
    pub(super) notices: mpsc::UnboundedSender<QueueNotice>,
    pub(super) caller_masked: Option<String>,
    pub(super) callback: bool,
}

pub(super) struct Actor {
    pub(super) acd: Acd,
    pub(super) queues: BTreeMap<QueueId, Arc<QueueConfig>>,
    pub(super) directory: BTreeMap<AgentId, AgentInfo>,
    pub(super) calls: BTreeMap<CallId, Waiting>,
    pub(super) watchers: BTreeMap<AgentId, Vec<mpsc::UnboundedSender<AgentEvent>>>,
    /// The offer each ringing agent has, so a socket opened while it rings still gets it.
    pub(super) open_offers: BTreeMap<AgentId, Offer>,
    pub(super) metrics: Option<Metrics>,
    pub(super) settings: ActorSettings,
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await,
        None => std::future::pending().await,
    }
}

fn valid_address(sip: &str) -> bool {
    ["sip:", "sips:", "tel:"]
        .iter()
        .any(|s| sip.len() > s.len() && sip.starts_with(s))
}

impl Actor {
    pub(super) async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Command>,
        stop: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(self.settings.metrics_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            let deadline = self.acd.poll_timeout();
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                cmd = rx.recv() => {
                    let Some(cmd) = cmd else { break };
                    let now = Instant::now();
                    self.command(now, cmd);
                }
                () = sleep_until_opt(deadline) => {
                    let now = Instant::now();
                    self.acd.handle_timeout(now);
                    self.drain();
                }
                _ = tick.tick() => self.publish(Instant::now()),
            }
        }
        self.publish(Instant::now());
    }

    pub(super) fn set_config(&mut self, queues: Vec<Arc<QueueConfig>>, agents: Vec<AgentEntry>) {
        self.queues = queues.into_iter().map(|q| (q.id.clone(), q)).collect();
        for a in agents {
            let info = AgentInfo {
                name: Some(a.name.clone()),
                sip: a.sip.clone(),
                skills: a.skills.clone(),
                queues: a.queues.clone(),
            };
            self.directory.insert(a.id, info);
        }
    }

    fn template_address(&self, agent: &AgentId) -> String {
        self.settings
            .agent_uri_template
            .replace("{agent}", agent.as_str())
    }

    pub(super) fn sip_of(&self, agent: &AgentId) -> String {
        self.directory
            .get(agent)
            .map_or_else(|| self.template_address(agent), |i| i.sip.clone())
    }

    /// The class a caller is counted under: the one asked for, or the queue's lowest.
    pub(super) fn class_in(&self, queue: &QueueId, class: &PriorityClass) -> PriorityClass {
        match self.queues.get(queue) {
            Some(cfg) if cfg.classes.iter().any(|c| &c.name == class) => class.clone(),
            Some(cfg) => cfg
                .classes
                .last()
                .map_or_else(|| class.clone(), |c| c.name.clone()),
            None => class.clone(),
        }
    }

    pub(super) fn count_left(&self, queue: &QueueId, class: &PriorityClass, result: &str) {
        if let Some(m) = &self.metrics {
            m.queue_left_total
                .with_label_values(&[queue.as_str(), class.as_str(), result])
                .inc();
        }
    }

    pub(super) fn count_entered(&self, queue: &QueueId, class: &PriorityClass) {
        if let Some(m) = &self.metrics {
            m.queue_entered_total
                .with_label_values(&[queue.as_str(), class.as_str()])
                .inc();
        }
    }

    fn command(&mut self, now: Instant, cmd: Command) {
        match cmd {
            Command::Join(req, notices) => {
                let req = *req;
                let class = self.class_in(&req.queue, &req.class);
                self.calls.insert(
                    req.call.clone(),
                    Waiting {
                        queue: req.queue.clone(),
                        class: class.clone(),
                        notices,
                        caller_masked: req.caller_masked,
                        callback: false,
                    },
                );
                let call = req.call.clone();
                let queue = req.queue.clone();
                self.acd.handle(
                    now,
                    AcdInput::CallerJoined {
                        call: req.call,
                        queue: req.queue,
                        class: req.class,
                        skills: req.skills,
                        context: req.context,
                    },
                );
                if self.acd.is_waiting(&call) {
                    self.count_entered(&queue, &class);
                }
                self.drain();
            }
            Command::Leave { call, reason } => {
                let was_waiting = self.acd.is_waiting(&call);
                self.acd.handle(
                    now,
                    AcdInput::CallerLeft {
                        call: call.clone(),
                        reason,
                    },
                );
                if was_waiting
                    && !self.acd.is_waiting(&call)
                    && let Some(w) = self.calls.remove(&call)
                    && !w.callback
                {
                    let result = match reason {
                        LeaveReason::Exited => "exited",
                        LeaveReason::Abandoned | LeaveReason::HungUp => "abandoned",
                    };
                    self.count_left(&w.queue, &w.class, result);
                }
                if !self.acd.is_waiting(&call) {
                    self.calls.remove(&call);
                }
                self.drain();
            }
            Command::Callback { call } => {
                self.acd.handle(now, AcdInput::CallbackRequested { call });
                self.drain();
            }
            Command::Login { agent, req, reply } => {
                let result = self.login(now, agent, req);
                let _ = reply.send(result);
            }
            Command::Agent { agent, cmd, reply } => {
                let result = self.agent_command(now, agent, cmd);
                let _ = reply.send(result);
            }
            Command::Subscribe {
                agent,
                events,
                reply,
            } => {
                let result = self.view(&agent);
                if let Ok(view) = &result {
                    let _ = events.send(AgentEvent::State {
                        state: view.state,
                        reason: view.reason.clone(),
                    });
                    // An agent that logged in over HTTP may be offered a caller before its
                    // socket opens: the socket gets the offer it would otherwise miss.
                    if let Some(offer) = self.open_offers.get(&agent) {
                        let _ = events.send(AgentEvent::Offer(self.offer_view(offer)));
                    }
                    let list = self.watchers.entry(agent).or_default();
                    list.retain(|w| !w.is_closed());
                    list.push(events);
                }
                let _ = reply.send(result);
            }
            Command::Agents(reply) => {
                let mut ids: BTreeSet<AgentId> = self.directory.keys().cloned().collect();
                ids.extend(self.acd.snapshot(now).agents.into_iter().map(|a| a.id));
                let views = ids.iter().filter_map(|id| self.view(id).ok()).collect();
                let _ = reply.send(views);
            }
            Command::Queues(reply) => {
                let _ = reply.send(self.queue_views(now));
            }
            Command::Snapshot(reply) => {
                let _ = reply.send(self.acd.snapshot(now));
            }
            Command::Publish(reply) => {
                self.publish(now);
                let _ = reply.send(());
            }
            Command::Reconfigure { queues, agents } => {
                self.acd.reconfigure(now, queues.iter().cloned());
                self.set_config(queues, agents);
                self.drain();
                self.publish(now);
            }
        }
    }

    fn login(
        &mut self,
        now: Instant,
        agent: AgentId,
        req: LoginRequest,
    ) -> Result<AgentView, AgentApiError> {
        let known = self.directory.get(&agent).cloned();
        if known.is_none() && req.queues.is_none() {
            return Err(AgentApiError::BadRequest(
                "an agent not in the agents file must name its queues".into(),
            ));
        }
        let skills = req
            .skills
            .or_else(|| known.as_ref().map(|k| k.skills.clone()))
            .unwrap_or_default();
        let queues = req
            .queues
            .or_else(|| known.as_ref().map(|k| k.queues.clone()))
            .unwrap_or_default();
        let sip = req
            .sip
            .or_else(|| known.as_ref().map(|k| k.sip.clone()))
            .unwrap_or_else(|| self.template_address(&agent));
        if let Some((skill, level)) = skills
            .iter()
            .find(|(_, l)| !(1..=MAX_SKILL_LEVEL).contains(*l))
        {
            return Err(AgentApiError::BadRequest(format!(
                "skill {skill} has level {level}, expected 1..=5"
            )));
        }
        if queues.is_empty() {
            return Err(AgentApiError::BadRequest("no queues".into()));
        }
        if let Some(q) = queues.iter().find(|q| !self.queues.contains_key(*q)) {
            return Err(AgentApiError::BadRequest(format!("unknown queue {q}")));
        }
        if !valid_address(&sip) {
            return Err(AgentApiError::BadRequest(
                "sip must start with sip:, sips: or tel:".into(),
            ));
        }
        self.directory.insert(
            agent.clone(),
            AgentInfo {
                name: known.and_then(|k| k.name),
                sip,
                skills: skills.clone(),
                queues: queues.clone(),
            },
        );
        self.acd.handle(
            now,
            AcdInput::AgentLoggedIn {
                agent: agent.clone(),
                skills: skills.into_iter().collect(),
                queues,
            },
        );
        self.drain();
        self.view(&agent)
    }

    fn agent_command(
        &mut self,
        now: Instant,
        agent: AgentId,
        cmd: AgentCommand,
    ) -> Result<AgentView, AgentApiError> {
        if self.acd.agent_state(&agent).is_none() {
            return Err(if self.directory.contains_key(&agent) {
                AgentApiError::Refused("not logged in".into())
            } else {
                AgentApiError::UnknownAgent
            });
        }
        let before = self.acd.snapshot(now).dropped_inputs;
        let input = match cmd {
            AgentCommand::Logout => AcdInput::AgentLoggedOut {
                agent: agent.clone(),
            },
            AgentCommand::Ready => AcdInput::AgentReady {
                agent: agent.clone(),
            },
            AgentCommand::NotReady { reason } => AcdInput::AgentNotReady {
                agent: agent.clone(),
                reason,
            },
            AgentCommand::Accept { call } => AcdInput::OfferAccepted {
                agent: agent.clone(),
                call,
            },
            AgentCommand::Reject { call } => AcdInput::OfferRejected {
                agent: agent.clone(),
                call,
            },
            AgentCommand::CallEnded => AcdInput::AgentCallEnded {
                agent: agent.clone(),
            },
            AgentCommand::WrapUpDone => AcdInput::WrapUpDone {
                agent: agent.clone(),
            },
        };
        self.acd.handle(now, input);
        let dropped = self.acd.snapshot(now).dropped_inputs > before;
        self.drain();
        if dropped {
            let state = self
                .acd
                .agent_state(&agent)
                .map_or("unknown", |s| s.label());
            return Err(AgentApiError::Refused(format!(
                "does not fit the agent's state ({state})"
            )));
        }
        self.view(&agent)
    }

    /// Sets the snapshot gauges.
    fn publish(&self, now: Instant) {
        let Some(m) = &self.metrics else {
            return;
        };
        let snap = self.acd.snapshot(now);
        let agents = self.agents_by_queue(&snap);
        for q in &snap.queues {
            let id = q.id.as_str();
            for (class, n) in &q.depth_by_class {
                m.queue_depth
                    .with_label_values(&[id, class.as_str()])
                    .set(i64::try_from(*n).unwrap_or(i64::MAX));
            }
            m.queue_oldest_wait_seconds
                .with_label_values(&[id])
                .set(q.oldest_wait.map_or(0.0, |d| d.as_secs_f64()));
            if let Some(level) = q.service_level {
                m.queue_service_level_ratio
                    .with_label_values(&[id])
                    .set(level);
            }
            if let Some(states) = agents.get(&q.id) {
                for (state, n) in states {
                    m.agents
                        .with_label_values(&[id, state])
                        .set(i64::try_from(*n).unwrap_or(i64::MAX));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::Duration;

    use super::super::fixtures::{join, start};
    use super::*;

    #[tokio::test]
    async fn static_agents_start_logged_out_and_log_in_with_their_file_address() {
        let (h, _m, _stop) = start();
        let agents = h.agents().await.unwrap();
        assert_eq!(agents.len(), 1);
        assert_eq!(agents[0].state, "logged_out");
        let view = h
            .login(AgentId::from("a1"), LoginRequest::default())
            .await
            .unwrap();
        assert_eq!(view.state, "ready");
        assert_eq!(view.sip, "sip:a1@pbx.test");
        assert_eq!(view.queues, vec!["general".to_owned()]);
    }

    #[tokio::test]
    async fn an_unknown_agent_must_name_its_queues_and_bad_requests_are_refused() {
        let (h, _m, _stop) = start();
        let err = h
            .login(AgentId::from("x9"), LoginRequest::default())
            .await
            .unwrap_err();
        assert!(matches!(err, AgentApiError::BadRequest(_)));
        let err = h
            .login(
                AgentId::from("x9"),
                LoginRequest {
                    queues: Some(vec![QueueId::from("nowhere")]),
                    ..LoginRequest::default()
                },
            )
            .await
            .unwrap_err();
        assert_eq!(
            err,
            AgentApiError::BadRequest("unknown queue nowhere".into())
        );
        let err = h
            .agent(AgentId::from("nobody"), AgentCommand::Ready)
            .await
            .unwrap_err();
        assert_eq!(err, AgentApiError::UnknownAgent);
        let err = h
            .agent(AgentId::from("a1"), AgentCommand::Ready)
            .await
            .unwrap_err();
        assert_eq!(err, AgentApiError::Refused("not logged in".into()));
    }

    #[tokio::test]
    async fn a_socket_opened_while_the_agent_rings_gets_the_open_offer() {
        let (h, _m, _stop) = start();
        let agent = AgentId::from("a1");
        h.login(agent.clone(), LoginRequest::default())
            .await
            .unwrap();
        let _notices = h.join(join("CA1", "normal"));
        // The caller is offered at once; only then does the agent's socket open.
        for _ in 0..100 {
            let view = h.agents().await.unwrap();
            if view[0].state == "offered" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let (_, mut events) = h.subscribe(agent.clone()).await.unwrap();
        assert!(matches!(
            events.recv().await,
            Some(AgentEvent::State {
                state: "offered",
                ..
            })
        ));
        match events.recv().await {
            Some(AgentEvent::Offer(o)) => assert_eq!(o.call, "CA1"),
            other => panic!("expected the open offer, got {other:?}"),
        }
    }
}
