//! The ACD behind one actor task: the only owner of the sans-IO [`Acd`].
//!
//! Sessions and the agents API talk to it through an [`AcdHandle`] (an mpsc channel of
//! commands, some with a reply channel). Each turn of the actor waits for one thing — a
//! command, the ACD's next deadline, the once-a-second metrics tick, shutdown — reads the
//! clock once, feeds the ACD, drains its actions and routes them:
//!
//! - to the waiting call's session, over the notice channel it handed over when it joined
//!   ([`QueueNotice`]): position, assignment (with the agent's SIP address), time-out,
//!   refusal, callback registered, overflow;
//! - to the agent's WebSocket watchers ([`AgentEvent`]): offers with the caller's context,
//!   withdrawals, state changes, connections;
//! - to the metric catalogue: entered/left counters, wait histogram, and every second the
//!   snapshot gauges (depth by class, oldest wait, service level, agents by state).
//!
//! Static agents come from a `kind: agents` file under `flows/` ([`load_agents`]); they start
//! logged out and log in through the API. A reload swaps queue configs and static agents
//! without losing callers or logged-in agents.
//!
//! It must not block: it does no file or socket I/O, and every send to a session or a watcher
//! is non-blocking. It never logs caller numbers or context values; offers carry the caller's
//! number masked and only non-secure values.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::call::Input;
use crate::flow::model::QueueConfig;
use crate::ids::{AgentId, CallId, PriorityClass, QueueId};
use crate::queue::agents::{AgentEntry, AgentsFile, MAX_SKILL_LEVEL};
use crate::queue::{
    Acd, AcdAction, AcdInput, AcdSnapshot, AgentState, CallerContext, LeaveReason, Offer,
    RejectReason, WithdrawReason,
};
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

/// An agent as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AgentView {
    /// The agent.
    pub id: String,
    /// A human name (agents file).
    pub name: Option<String>,
    /// Where accepted calls go.
    pub sip: String,
    /// State label (`logged_out`, `ready`, `offered`, `busy`, `wrap_up`, `not_ready`).
    pub state: &'static str,
    /// The not-ready reason.
    pub reason: Option<String>,
    /// The call offered or being handled.
    pub call: Option<String>,
    /// Queues served.
    pub queues: Vec<String>,
    /// Skills and levels.
    pub skills: BTreeMap<String, u8>,
}

/// An offer as pushed to the agent: who, from where, why. Never a secure value; the caller's
/// number masked.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OfferView {
    /// The call.
    pub call: String,
    /// The queue it waited in.
    pub queue: String,
    /// Its priority class.
    pub class: String,
    /// Seconds waited since first joining.
    pub waited_secs: f64,
    /// Call the caller back rather than bridge.
    pub callback: bool,
    /// Why this caller went to this agent.
    pub why: String,
    /// The line dialled.
    pub line: String,
    /// The flow run.
    pub flow: String,
    /// Nodes visited.
    pub path: Vec<String>,
    /// Non-secure collected values (merchant tier, language, ...).
    pub values: BTreeMap<String, String>,
    /// The caller's number, masked.
    pub caller: Option<String>,
}

/// What an agent's WebSocket receives.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentEvent {
    /// The agent's state now.
    State {
        /// State label.
        state: &'static str,
        /// Not-ready reason.
        reason: Option<String>,
    },
    /// A call rings for this agent.
    Offer(OfferView),
    /// The offer stopped ringing.
    OfferWithdrawn {
        /// The call.
        call: String,
        /// Why (`missed`, `caller_gone`, `max_wait`, `agent_unavailable`).
        reason: &'static str,
    },
    /// The accepted caller is being sent to the agent's address.
    Connected {
        /// The call.
        call: String,
        /// The address the caller is sent to.
        target: String,
    },
}

/// One class of a queue in `GET /api/queues`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassView {
    /// The class.
    pub class: String,
    /// Callers waiting in it.
    pub waiting: usize,
}

/// A queue as `GET /api/queues` shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QueueView {
    /// The queue.
    pub id: String,
    /// All callers waiting.
    pub depth: usize,
    /// Waiting per class, in config order.
    pub classes: Vec<ClassView>,
    /// Of those, callbacks.
    pub callbacks_waiting: usize,
    /// The longest current wait, in seconds.
    pub oldest_wait_secs: Option<f64>,
    /// Estimated wait for a caller joining now, in seconds; `None`: cannot estimate.
    pub estimated_wait_secs: Option<f64>,
    /// Answered within the service level / answered.
    pub service_level: Option<f64>,
    /// Agents serving the queue by state (static agents not logged in count as logged out).
    pub agents: BTreeMap<&'static str, usize>,
    /// Totals since start.
    pub entered: u64,
    /// Answered by an agent.
    pub answered: u64,
    /// Hung up while waiting.
    pub abandoned: u64,
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

enum Command {
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

/// Reads every `kind: agents` file directly under `flows_dir` and checks it against the
/// known queues. Other kinds are skipped. Every problem is returned at once.
pub fn load_agents(
    flows_dir: &Path,
    known_queues: &BTreeSet<QueueId>,
) -> Result<Vec<AgentEntry>, Vec<String>> {
    #[derive(Deserialize)]
    struct Kind {
        kind: Option<String>,
    }
    let mut files: Vec<_> = match std::fs::read_dir(flows_dir) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect(),
        Err(_) => return Ok(Vec::new()),
    };
    files.sort();
    let mut agents = Vec::new();
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let is_agents = crate::flow::yaml::parse::<Kind>(&file, &text)
            .ok()
            .and_then(|k| k.kind)
            .is_some_and(|k| k == "agents");
        if !is_agents {
            continue;
        }
        match crate::flow::yaml::parse::<AgentsFile>(&file, &text) {
            Ok(doc) => {
                let found = doc.check(known_queues);
                problems.extend(found.iter().map(|p| format!("{}: {p}", file.display())));
                for a in doc.agents {
                    if !seen.insert(a.id.clone()) {
                        problems.push(format!(
                            "{}: agent {} is defined in another agents file too",
                            file.display(),
                            a.id
                        ));
                    }
                    agents.push(a);
                }
            }
            Err(d) => problems.push(d.to_string()),
        }
    }
    if problems.is_empty() {
        Ok(agents)
    } else {
        Err(problems)
    }
}

/// What the actor knows about an agent beyond the ACD's state.
#[derive(Clone, Debug)]
struct AgentInfo {
    name: Option<String>,
    sip: String,
    skills: BTreeMap<String, u8>,
    queues: Vec<QueueId>,
}

/// A call the ACD holds, with what metrics and offers need.
#[derive(Debug)]
struct Waiting {
    queue: QueueId,
    class: PriorityClass,
    notices: mpsc::UnboundedSender<QueueNotice>,
    caller_masked: Option<String>,
    callback: bool,
}

struct Actor {
    acd: Acd,
    queues: BTreeMap<QueueId, Arc<QueueConfig>>,
    directory: BTreeMap<AgentId, AgentInfo>,
    calls: BTreeMap<CallId, Waiting>,
    watchers: BTreeMap<AgentId, Vec<mpsc::UnboundedSender<AgentEvent>>>,
    metrics: Option<Metrics>,
    settings: ActorSettings,
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

fn withdraw_label(reason: WithdrawReason) -> &'static str {
    match reason {
        WithdrawReason::Missed => "missed",
        WithdrawReason::CallerGone => "caller_gone",
        WithdrawReason::MaxWait => "max_wait",
        WithdrawReason::AgentUnavailable => "agent_unavailable",
    }
}

fn state_event(state: &AgentState) -> AgentEvent {
    AgentEvent::State {
        state: state.label(),
        reason: match state {
            AgentState::NotReady { reason } => Some(reason.clone()),
            _ => None,
        },
    }
}

impl Actor {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>, stop: CancellationToken) {
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

    fn set_config(&mut self, queues: Vec<Arc<QueueConfig>>, agents: Vec<AgentEntry>) {
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

    fn sip_of(&self, agent: &AgentId) -> String {
        self.directory
            .get(agent)
            .map_or_else(|| self.template_address(agent), |i| i.sip.clone())
    }

    /// The class a caller is counted under: the one asked for, or the queue's lowest.
    fn class_in(&self, queue: &QueueId, class: &PriorityClass) -> PriorityClass {
        match self.queues.get(queue) {
            Some(cfg) if cfg.classes.iter().any(|c| &c.name == class) => class.clone(),
            Some(cfg) => cfg
                .classes
                .last()
                .map_or_else(|| class.clone(), |c| c.name.clone()),
            None => class.clone(),
        }
    }

    fn count_left(&self, queue: &QueueId, class: &PriorityClass, result: &str) {
        if let Some(m) = &self.metrics {
            m.queue_left_total
                .with_label_values(&[queue.as_str(), class.as_str(), result])
                .inc();
        }
    }

    fn count_entered(&self, queue: &QueueId, class: &PriorityClass) {
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

    fn view(&self, agent: &AgentId) -> Result<AgentView, AgentApiError> {
        let info = self.directory.get(agent);
        let state = self.acd.agent_state(agent);
        if info.is_none() && state.is_none() {
            return Err(AgentApiError::UnknownAgent);
        }
        let state = state.cloned().unwrap_or(AgentState::LoggedOut);
        let call = match &state {
            AgentState::Offered { call } | AgentState::Busy { call } => Some(call.0.clone()),
            _ => None,
        };
        let reason = match &state {
            AgentState::NotReady { reason } => Some(reason.clone()),
            _ => None,
        };
        Ok(AgentView {
            id: agent.0.clone(),
            name: info.and_then(|i| i.name.clone()),
            sip: self.sip_of(agent),
            state: state.label(),
            reason,
            call,
            queues: info
                .map(|i| i.queues.iter().map(|q| q.0.clone()).collect())
                .unwrap_or_default(),
            skills: info.map(|i| i.skills.clone()).unwrap_or_default(),
        })
    }

    /// Agents by state per queue: the ACD's counts plus static agents it has never seen.
    fn agents_by_queue(
        &self,
        snap: &AcdSnapshot,
    ) -> BTreeMap<QueueId, BTreeMap<&'static str, usize>> {
        let mut out: BTreeMap<QueueId, BTreeMap<&'static str, usize>> = BTreeMap::new();
        for q in &snap.queues {
            out.insert(q.id.clone(), q.agents_by_state.iter().copied().collect());
        }
        for (id, info) in &self.directory {
            if self.acd.agent_state(id).is_some() {
                continue;
            }
            for q in &info.queues {
                if let Some(states) = out.get_mut(q) {
                    *states.entry("logged_out").or_default() += 1;
                }
            }
        }
        out
    }

    fn queue_views(&self, now: Instant) -> Vec<QueueView> {
        let snap = self.acd.snapshot(now);
        let agents = self.agents_by_queue(&snap);
        snap.queues
            .iter()
            .map(|q| {
                let depth = q.depth();
                let estimated_wait_secs = q
                    .service_rate_per_minute
                    .filter(|r| *r > 0.0)
                    .map(|r| (depth as f64 + 1.0) * 60.0 / r);
                QueueView {
                    id: q.id.0.clone(),
                    depth,
                    classes: q
                        .depth_by_class
                        .iter()
                        .map(|(c, n)| ClassView {
                            class: c.0.clone(),
                            waiting: *n,
                        })
                        .collect(),
                    callbacks_waiting: q.callbacks_waiting,
                    oldest_wait_secs: q.oldest_wait.map(|d| d.as_secs_f64()),
                    estimated_wait_secs,
                    service_level: q.service_level,
                    agents: agents.get(&q.id).cloned().unwrap_or_default(),
                    entered: q.counters.entered,
                    answered: q.counters.answered,
                    abandoned: q.counters.abandoned,
                }
            })
            .collect()
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

    fn notify(&self, call: &CallId, notice: QueueNotice) {
        if let Some(w) = self.calls.get(call) {
            let _ = w.notices.send(notice);
        }
    }

    fn tell_agent(&mut self, agent: &AgentId, event: &AgentEvent) {
        if let Some(list) = self.watchers.get_mut(agent) {
            list.retain(|w| w.send(event.clone()).is_ok());
        }
    }

    fn offer_view(&self, offer: &Offer) -> OfferView {
        let ctx = &offer.context;
        OfferView {
            call: offer.call.0.clone(),
            queue: offer.queue.0.clone(),
            class: offer.class.0.clone(),
            waited_secs: offer.waited.as_secs_f64(),
            callback: offer.callback,
            why: offer.why.to_string(),
            line: ctx.line.clone(),
            flow: ctx.flow.0.clone(),
            path: ctx.path.iter().map(|n| n.0.clone()).collect(),
            values: ctx.values.clone(),
            caller: self
                .calls
                .get(&offer.call)
                .and_then(|w| w.caller_masked.clone()),
        }
    }

    /// Drains the ACD's actions and routes each one.
    fn drain(&mut self) {
        while let Some(action) = self.acd.poll_action() {
            self.route(action);
        }
    }

    fn route(&mut self, action: AcdAction) {
        match action {
            AcdAction::Position {
                call,
                position,
                estimated_wait,
            } => self.notify(
                &call,
                QueueNotice::Fact(Input::QueueStatus {
                    position,
                    estimated_wait,
                }),
            ),
            AcdAction::Assigned {
                call,
                agent,
                queue,
                waited,
                callback,
            } => {
                let sip = self.sip_of(&agent);
                if let Some(w) = self.calls.get(&call) {
                    if let Some(m) = &self.metrics {
                        m.queue_wait_seconds
                            .with_label_values(&[w.queue.as_str(), w.class.as_str()])
                            .observe(waited.as_secs_f64());
                    }
                    if !w.callback {
                        self.count_left(&w.queue, &w.class, "answered");
                    }
                }
                let target = if callback {
                    "callback".to_owned()
                } else {
                    sip.clone()
                };
                self.notify(
                    &call,
                    QueueNotice::Assigned {
                        agent: agent.clone(),
                        sip,
                        queue,
                        waited,
                    },
                );
                self.calls.remove(&call);
                self.tell_agent(
                    &agent,
                    &AgentEvent::Connected {
                        call: call.0.clone(),
                        target,
                    },
                );
            }
            AcdAction::TimedOut { call, .. } => {
                if let Some(w) = self.calls.get(&call)
                    && !w.callback
                {
                    self.count_left(&w.queue, &w.class, "timed_out");
                }
                self.notify(&call, QueueNotice::Fact(Input::QueueTimedOut));
                self.calls.remove(&call);
            }
            AcdAction::Rejected { call, reason, .. } => {
                if let Some(w) = self.calls.get(&call) {
                    self.count_left(&w.queue, &w.class, "rejected");
                }
                let fact = match reason {
                    RejectReason::Full => Input::QueueFull,
                    RejectReason::NoAgents | RejectReason::UnknownQueue => Input::QueueNoAgents,
                };
                self.notify(&call, QueueNotice::Fact(fact));
                self.calls.remove(&call);
            }
            AcdAction::CallbackRegistered { call } => {
                if let Some(w) = self.calls.get_mut(&call) {
                    w.callback = true;
                    let (q, c) = (w.queue.clone(), w.class.clone());
                    self.count_left(&q, &c, "callback");
                }
                self.notify(&call, QueueNotice::Fact(Input::CallbackRegistered));
            }
            AcdAction::Overflowed { call, from, to } => {
                let class = self.calls.get(&call).map(|w| w.class.clone());
                if let Some(class) = class {
                    self.count_left(&from, &class, "overflowed");
                    let new_class = self.class_in(&to, &class);
                    self.count_entered(&to, &new_class);
                    if let Some(w) = self.calls.get_mut(&call) {
                        w.queue = to.clone();
                        w.class = new_class;
                    }
                }
                self.notify(&call, QueueNotice::Overflowed { to });
            }
            AcdAction::Offer(offer) => {
                let view = self.offer_view(&offer);
                self.tell_agent(&offer.agent, &AgentEvent::Offer(view));
            }
            AcdAction::OfferWithdrawn {
                agent,
                call,
                reason,
            } => self.tell_agent(
                &agent,
                &AgentEvent::OfferWithdrawn {
                    call: call.0,
                    reason: withdraw_label(reason),
                },
            ),
            AcdAction::AgentState { agent, state } => {
                self.tell_agent(&agent, &state_event(&state));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::flow::model::{AnnounceConfig, ClassConfig};
    use crate::ids::{FlowId, PromptId};

    fn class(name: &str, strict: bool) -> ClassConfig {
        ClassConfig {
            name: PriorityClass::from(name),
            strict,
            max_agent_share: if strict { 0.5 } else { 0.0 },
            base_priority: 0.0,
            aging_per_second: 0.1,
        }
    }

    fn general() -> Arc<QueueConfig> {
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

    fn static_agent(id: &str) -> AgentEntry {
        AgentEntry {
            id: AgentId::from(id),
            name: format!("Agent {id}"),
            sip: format!("sip:{id}@pbx.test"),
            skills: BTreeMap::new(),
            queues: vec![QueueId::from("general")],
        }
    }

    fn join(call: &str, class: &str) -> JoinRequest {
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

    fn start() -> (AcdHandle, Metrics, CancellationToken) {
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
    async fn an_accepted_offer_sends_the_caller_to_the_agents_address() {
        let (h, m, _stop) = start();
        let agent = AgentId::from("a1");
        h.login(agent.clone(), LoginRequest::default())
            .await
            .unwrap();
        let (_, mut events) = h.subscribe(agent.clone()).await.unwrap();
        assert_eq!(
            events.recv().await,
            Some(AgentEvent::State {
                state: "ready",
                reason: None
            })
        );
        let mut notices = h.join(join("CA1", "normal"));
        assert!(matches!(
            notices.recv().await,
            Some(QueueNotice::Fact(Input::QueueStatus { position: 0, .. }))
        ));
        let offer = loop {
            match events.recv().await.unwrap() {
                AgentEvent::Offer(o) => break o,
                _ => continue,
            }
        };
        assert_eq!(offer.call, "CA1");
        assert_eq!(offer.class, "normal");
        assert_eq!(offer.values["tier"], "gold");
        assert_eq!(offer.caller.as_deref(), Some("+86138******00"));
        let view = h
            .agent(
                agent.clone(),
                AgentCommand::Accept {
                    call: CallId::from("CA1"),
                },
            )
            .await
            .unwrap();
        assert_eq!(view.state, "busy");
        match notices.recv().await.unwrap() {
            QueueNotice::Assigned { agent: a, sip, .. } => {
                assert_eq!(a, agent);
                assert_eq!(sip, "sip:a1@pbx.test");
            }
            other => panic!("expected an assignment, got {other:?}"),
        }
        // A second accept no longer fits.
        let err = h
            .agent(
                agent.clone(),
                AgentCommand::Accept {
                    call: CallId::from("CA1"),
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(err, AgentApiError::Refused(_)));
        let view = h
            .agent(agent.clone(), AgentCommand::CallEnded)
            .await
            .unwrap();
        assert_eq!(view.state, "wrap_up");
        let view = h.agent(agent, AgentCommand::WrapUpDone).await.unwrap();
        assert_eq!(view.state, "ready");
        let text = m.render();
        assert!(text.contains(
            "ivr_queue_left_total{class=\"normal\",queue=\"general\",result=\"answered\"} 1"
        ));
        assert!(text.contains("ivr_queue_entered_total{class=\"normal\",queue=\"general\"} 1"));
    }

    #[tokio::test]
    async fn waiting_callers_show_in_the_queue_picture_by_class_and_leave_as_abandoned() {
        let (h, m, _stop) = start();
        let _n1 = h.join(join("CA1", "emergency"));
        let _n2 = h.join(join("CA2", "normal"));
        let _n3 = h.join(join("CA3", "normal"));
        let queues = h.queues().await.unwrap();
        assert_eq!(queues.len(), 1);
        let q = &queues[0];
        assert_eq!(q.depth, 3);
        assert_eq!(
            q.classes,
            vec![
                ClassView {
                    class: "emergency".into(),
                    waiting: 1
                },
                ClassView {
                    class: "normal".into(),
                    waiting: 2
                }
            ]
        );
        assert_eq!(q.estimated_wait_secs, None);
        assert_eq!(q.agents["logged_out"], 1);
        h.leave(CallId::from("CA2"), LeaveReason::Abandoned);
        let q = h.queues().await.unwrap().remove(0);
        assert_eq!(q.depth, 2);
        assert_eq!(q.abandoned, 1);
        let text = m.render();
        assert!(text.contains(
            "ivr_queue_left_total{class=\"normal\",queue=\"general\",result=\"abandoned\"} 1"
        ));
    }

    #[tokio::test]
    async fn a_full_queue_refuses_the_caller_with_queue_full() {
        let (h, _m, _stop) = start();
        let mut keep = Vec::new();
        for i in 0..10 {
            keep.push(h.join(join(&format!("CA{i}"), "normal")));
        }
        let mut last = h.join(join("CA-late", "normal"));
        assert_eq!(last.recv().await, Some(QueueNotice::Fact(Input::QueueFull)));
    }

    #[test]
    fn agents_files_are_found_among_flow_files_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("queue-general.yaml"),
            "kind: queue\nid: general\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("agents.yaml"),
            "kind: agents\nagents:\n  - { id: a1, name: A, sip: \"sip:1@h\", queues: [general] }\n",
        )
        .unwrap();
        let known = BTreeSet::from([QueueId::from("general")]);
        let agents = load_agents(dir.path(), &known).unwrap();
        assert_eq!(agents.len(), 1);
        assert_eq!(agents[0].id, AgentId::from("a1"));
        let problems = load_agents(dir.path(), &BTreeSet::new()).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("queue general is not defined"));
    }
}
