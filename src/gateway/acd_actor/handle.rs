//! The ACD actor's handle: the requests sessions and the HTTP layer send, and the clonable
//! [`AcdHandle`] that sends them.
//!
//! Every method only puts a command on the actor's channel (and, for requests with a reply,
//! awaits the answer). It must not hold queue state or decide anything: the actor does.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::actor::Actor;
use super::views::{AgentEvent, AgentView, QueueView};
use crate::call::Input;
use crate::flow::model::QueueConfig;
use crate::ids::{AgentId, CallId, PriorityClass, QueueId};
use crate::queue::agents::AgentEntry;
use crate::queue::{Acd, AcdSnapshot, CallerContext, LeaveReason};
use crate::telemetry::Metrics;

/// What the queue tells one waiting call's session.
#[derive(Clone, Debug, PartialEq)]
pub enum QueueNotice {
    /// A fact for the call core (`QueueStatus`, `QueueTimedOut`, `QueueFull`,
    /// `QueueNoAgents`, `CallbackRegistered`).
    Fact(Input),
    /// An agent accepted: transfer the caller to `sip`, then feed `AgentAssigned`.
    Assigned {
        /// The agent.
        agent: AgentId,
        /// Where to send the caller.
        sip: String,
        /// The queue it was answered from.
        queue: QueueId,
        /// Time waited since first joining.
        waited: Duration,
    },
    /// The caller passed `max_wait` and now waits in another queue.
    Overflowed {
        /// The queue joined.
        to: QueueId,
    },
}

/// A caller asking to join a queue.
#[derive(Clone, Debug)]
pub struct JoinRequest {
    /// The call.
    pub call: CallId,
    /// The queue.
    pub queue: QueueId,
    /// The priority class.
    pub class: PriorityClass,
    /// Skills required on top of the queue's own.
    pub skills: Vec<String>,
    /// Non-secure context shown to the agent.
    pub context: CallerContext,
    /// The caller's number, already masked.
    pub caller_masked: Option<String>,
}

/// What an agent asks for over the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentCommand {
    /// Log out.
    Logout,
    /// Ready for calls.
    Ready,
    /// Not taking calls.
    NotReady {
        /// Why (shown to supervisors).
        reason: String,
    },
    /// Take the offered call.
    Accept {
        /// The call offered.
        call: CallId,
    },
    /// Decline the offered call.
    Reject {
        /// The call offered.
        call: CallId,
    },
    /// The agent's call ended (hung up): wrap-up starts.
    CallEnded,
    /// After-call work finished.
    WrapUpDone,
}

/// A log-in request; absent fields come from the agents file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Skill → level (1..=5).
    #[serde(default)]
    pub skills: Option<BTreeMap<String, u8>>,
    /// Queues served.
    #[serde(default)]
    pub queues: Option<Vec<QueueId>>,
    /// Where accepted calls go (`sip:`, `sips:` or `tel:`).
    #[serde(default)]
    pub sip: Option<String>,
}

/// Why an agent request was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AgentApiError {
    /// No such agent (not in the agents file, never logged in).
    #[error("unknown agent")]
    UnknownAgent,
    /// The request does not fit the agent's state (a stale accept, ready while logged out).
    #[error("refused: {0}")]
    Refused(String),
    /// The request itself is wrong (bad skill level, unknown queue, bad address).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The ACD actor has stopped (the engine is shutting down).
    #[error("the queue is not running")]
    Stopped,
}

pub(super) enum Command {
    Join(Box<JoinRequest>, mpsc::UnboundedSender<QueueNotice>),
    Leave {
        call: CallId,
        reason: LeaveReason,
    },
    Callback {
        call: CallId,
    },
    Login {
        agent: AgentId,
        req: LoginRequest,
        reply: oneshot::Sender<Result<AgentView, AgentApiError>>,
    },
    Agent {
        agent: AgentId,
        cmd: AgentCommand,
        reply: oneshot::Sender<Result<AgentView, AgentApiError>>,
    },
    Subscribe {
        agent: AgentId,
        events: mpsc::UnboundedSender<AgentEvent>,
        reply: oneshot::Sender<Result<AgentView, AgentApiError>>,
    },
    Agents(oneshot::Sender<Vec<AgentView>>),
    Queues(oneshot::Sender<Vec<QueueView>>),
    Snapshot(oneshot::Sender<AcdSnapshot>),
    /// Bring the queue and agent gauges up to date now (a scrape is about to render them).
    Publish(oneshot::Sender<()>),
    Reconfigure {
        queues: Vec<Arc<QueueConfig>>,
        agents: Vec<AgentEntry>,
    },
}

/// A clonable handle on the ACD actor. Sends never block; requests with replies await the
/// actor's answer.
#[derive(Clone, Debug)]
pub struct AcdHandle {
    tx: mpsc::UnboundedSender<Command>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

/// Settings of the actor that are not queue configs.
#[derive(Clone, Debug)]
pub struct ActorSettings {
    /// SIP address of an agent with none of its own, `{agent}` replaced by its id.
    pub agent_uri_template: String,
    /// How often the snapshot gauges are refreshed.
    pub metrics_every: Duration,
}

impl Default for ActorSettings {
    fn default() -> Self {
        Self {
            agent_uri_template: "sip:{agent}@agents.invalid".into(),
            metrics_every: Duration::from_secs(1),
        }
    }
}

impl AcdHandle {
    /// Starts the actor on the current runtime. It runs until `stop` is cancelled or every
    /// handle is dropped.
    pub fn spawn(
        queues: Vec<Arc<QueueConfig>>,
        agents: Vec<AgentEntry>,
        metrics: Option<Metrics>,
        settings: ActorSettings,
        stop: CancellationToken,
    ) -> (AcdHandle, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut actor = Actor {
            acd: Acd::new(queues.iter().cloned()),
            queues: BTreeMap::new(),
            directory: BTreeMap::new(),
            calls: BTreeMap::new(),
            watchers: BTreeMap::new(),
            open_offers: BTreeMap::new(),
            metrics,
            settings,
        };
        actor.set_config(queues, agents);
        let task = tokio::spawn(actor.run(rx, stop));
        (AcdHandle { tx }, task)
    }

    /// Joins a queue; the returned channel carries every notice for this call.
    pub fn join(&self, req: JoinRequest) -> mpsc::UnboundedReceiver<QueueNotice> {
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = self.tx.send(Command::Join(Box::new(req), tx));
        rx
    }

    /// The caller left the queue (or the call ended) before an agent took it.
    pub fn leave(&self, call: CallId, reason: LeaveReason) {
        let _ = self.tx.send(Command::Leave { call, reason });
    }

    /// The caller asked to be called back, keeping their place.
    pub fn request_callback(&self, call: CallId) {
        let _ = self.tx.send(Command::Callback { call });
    }

    /// Logs an agent in (or updates a logged-in agent's skills, queues or address).
    pub async fn login(
        &self,
        agent: AgentId,
        req: LoginRequest,
    ) -> Result<AgentView, AgentApiError> {
        let (reply, rx) = oneshot::channel();
        self.ask(Command::Login { agent, req, reply }, rx)
            .await
            .and_then(|r| r)
    }

    /// Applies an agent's request and returns its state afterwards.
    pub async fn agent(
        &self,
        agent: AgentId,
        cmd: AgentCommand,
    ) -> Result<AgentView, AgentApiError> {
        let (reply, rx) = oneshot::channel();
        self.ask(Command::Agent { agent, cmd, reply }, rx)
            .await
            .and_then(|r| r)
    }

    /// Subscribes to an agent's events (offers, state); the agent must be known.
    pub async fn subscribe(
        &self,
        agent: AgentId,
    ) -> Result<(AgentView, mpsc::UnboundedReceiver<AgentEvent>), AgentApiError> {
        let (events, events_rx) = mpsc::unbounded_channel();
        let (reply, rx) = oneshot::channel();
        let view = self
            .ask(
                Command::Subscribe {
                    agent,
                    events,
                    reply,
                },
                rx,
            )
            .await
            .and_then(|r| r)?;
        Ok((view, events_rx))
    }

    /// Every agent known (static ones included), by id.
    pub async fn agents(&self) -> Result<Vec<AgentView>, AgentApiError> {
        let (reply, rx) = oneshot::channel();
        self.ask(Command::Agents(reply), rx).await
    }

    /// Every queue's picture.
    pub async fn queues(&self) -> Result<Vec<QueueView>, AgentApiError> {
        let (reply, rx) = oneshot::channel();
        self.ask(Command::Queues(reply), rx).await
    }

    /// The ACD's raw snapshot.
    pub async fn snapshot(&self) -> Result<AcdSnapshot, AgentApiError> {
        let (reply, rx) = oneshot::channel();
        self.ask(Command::Snapshot(reply), rx).await
    }

    /// Brings the queue and agent gauges up to date (they are otherwise refreshed once per
    /// `metrics_every`), so a scrape right after a change sees it.
    pub async fn publish_metrics(&self) -> Result<(), AgentApiError> {
        let (reply, rx) = oneshot::channel();
        self.ask(Command::Publish(reply), rx).await
    }

    /// Swaps queue configs and static agents (a flow reload).
    pub fn reconfigure(&self, queues: Vec<Arc<QueueConfig>>, agents: Vec<AgentEntry>) {
        let _ = self.tx.send(Command::Reconfigure { queues, agents });
    }

    async fn ask<T>(&self, cmd: Command, rx: oneshot::Receiver<T>) -> Result<T, AgentApiError> {
        self.tx.send(cmd).map_err(|_| AgentApiError::Stopped)?;
        rx.await.map_err(|_| AgentApiError::Stopped)
    }
}
