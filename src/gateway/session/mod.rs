//! The per-call session task: the only async loop of a call.
//!
//! Each turn waits for one thing — a gateway message, a fact pushed by the queue or the admin
//! API, the next deadline, or shutdown — then reads the clock once, feeds one input to the
//! sans-IO [`Call`], drains its actions, tops up the prompt audio when it is due (several
//! frames per message, see [`Playout`]), and re-arms one sleep at the earliest of: the call's
//! next timer, the next top-up, the next overdue mark, the media idle deadline. While the
//! caller's audio flows in, the top-ups ride on the turns its frames wake.
//!
//! Before `start` arrives the session holds no call state; media and digits that come early
//! are buffered (bounded) and replayed. A second socket for a call id already running is
//! refused. Digits come from the in-band detector on every inbound frame *and* the gateway's
//! events, de-duplicated ([`DigitDedupe`]). Barge-in sends `clear`/`FLUSH_MEDIA` in the same
//! turn as the key that caused it, whatever the local queue holds.
//!
//! Leaving: a hang-up or transfer records a [`Decision`] for the gateway to fetch (Twilio's
//! `<Connect action>` webhook, Asterisk's `GET /api/calls/{id}/next`), sends the in-band
//! command where the gateway has one, and closes the socket.
//!
//! Malformed input ends this call only, with a counted reason. Nothing here panics on what a
//! gateway sends. Caller numbers and digits never reach logs.
//!
//! Split by responsibility: this file holds the session, its setup and the main loop with its
//! one `select!`; `inbound` turns what the gateway sends into facts, `actions` carries out what
//! the call core asks, `outbound` writes to the gateway, and `leave` ends the call (decisions,
//! accounting, closing the socket).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures_util::StreamExt as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tokio_tungstenite::WebSocketStream;

use crate::call::{Call, CallInfo, Input, PlaybackId};
use crate::flow::model::Utterance;
use crate::gateway::acd_actor::QueueNotice;
use crate::gateway::dedupe::DigitDedupe;
use crate::gateway::dialect::{Codec, Dialect, DialectKind, Inbound, Outbound, Started};
use crate::gateway::playout::Playout;
use crate::gateway::queue_link::QueueLink;
use crate::gateway::registry::{CallEntry, Decision};
use crate::gateway::reorder::Reorder;
use crate::gateway::server::{Shared, Slot};
use crate::gateway::trace::CallTrace;
use crate::ids::{CallId, Language, PromptId};
use crate::media::dtmf::DtmfDetector;
use crate::media::g711::Law;
use crate::media::prompts::{FRAME_SAMPLES, Frame, Playback};
use crate::telemetry::ProtocolErrorKind;

mod actions;
mod inbound;
mod leave;
mod outbound;

use outbound::mark_safe;

/// Messages kept from before `start` (a second of 20 ms frames).
const MAX_EARLY: usize = 50;

/// Early frames held while waiting for one that was overtaken (60 ms of 20 ms frames).
const REORDER_FRAMES: usize = 3;

/// Prompt id played to callers of a number no flow claims.
pub const NOT_IN_SERVICE_PROMPT: &str = "not_in_service";

/// Prefix of informational marks (queue joined, transfer) that tell a simulator or a gateway
/// log what happened; their echoes are ignored.
pub const EVENT_MARK_PREFIX: &str = "ev:";

/// How a session ended, for logs and `ivr_calls_ended_total{outcome}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// The flow ended the call (hang-up node, max duration, ...), with its outcome label.
    Ended(String),
    /// The call left the engine to an agent or a number.
    Transferred,
    /// The caller hung up (gateway `stop` or socket closed).
    CallerHungUp,
    /// The gateway sent something malformed.
    Malformed(&'static str),
    /// The gateway asked for something unsupported.
    Unsupported(&'static str),
    /// No `start` in time.
    StartTimeout,
    /// No message from the gateway in time.
    MediaTimeout,
    /// The gateway stopped reading; our writes stalled or overflowed.
    WriteStalled,
    /// A socket for this call id already runs.
    Duplicate,
    /// The engine shut down with the call in progress.
    Drained,
    /// The socket failed.
    SocketError,
}

impl Exit {
    pub(crate) fn outcome(&self) -> String {
        match self {
            Exit::Ended(label) => label.clone(),
            Exit::Transferred => "transferred".into(),
            Exit::CallerHungUp => "caller_hung_up".into(),
            Exit::Malformed(_) | Exit::Unsupported(_) | Exit::SocketError => "error".into(),
            Exit::StartTimeout => "start_timeout".into(),
            Exit::MediaTimeout => "media_timeout".into(),
            Exit::WriteStalled => "slow_consumer".into(),
            Exit::Duplicate => "duplicate".into(),
            Exit::Drained => "drained".into(),
        }
    }
}

/// What the server hands a new session.
pub(crate) struct SessionSetup {
    pub shared: Arc<Shared>,
    pub kind: DialectKind,
    /// The number in the URL path (`/twilio/{number}`).
    pub path_number: Option<String>,
    /// Query parameters of the upgrade URL (Asterisk `v(...)`).
    pub query: BTreeMap<String, String>,
    /// The capacity slot; released when the session ends.
    pub slot: Slot,
}

/// What a playback belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tag {
    Call(PlaybackId),
    NotInService,
}

struct Current {
    tag: Tag,
    playback: Playback,
    label: String,
}

struct Session<S> {
    ws: WebSocketStream<S>,
    shared: Arc<Shared>,
    dialect: Box<dyn Dialect>,
    kind: DialectKind,
    call_id: Option<CallId>,
    codec: Codec,
    law: Option<Law>,
    call: Option<Call>,
    playout: Playout<Tag>,
    current: Option<Current>,
    detector: DtmfDetector,
    reorder: Reorder,
    dedupe: DigitDedupe,
    pcm: Vec<i16>,
    frame: Frame,
    out_bytes: Vec<u8>,
    /// Reused copies of the inbound frames the reorder window releases (the first `n` are live).
    released: Vec<Vec<u8>>,
    prompts: Arc<crate::media::prompts::PromptStore>,
    exit: Option<Exit>,
    /// This call's side of the ACD: joined queue, notices, the assigned agent's address.
    queue: QueueLink,
    /// Metric series and call record; `None` until the call is routed.
    trace: Option<CallTrace>,
    _slot: Slot,
}

/// Runs one call on an upgraded socket until it ends, then closes the socket.
pub(crate) async fn run<S>(ws: WebSocketStream<S>, setup: SessionSetup)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let shared = Arc::clone(&setup.shared);
    let cfg = &shared.config;
    let mut s = Session {
        ws,
        shared: Arc::clone(&shared),
        dialect: setup.kind.new_dialect(),
        kind: setup.kind,
        call_id: None,
        codec: Codec::Mulaw,
        law: Some(Law::Mulaw),
        call: None,
        playout: Playout::new(cfg.playout_lead, cfg.playout_refill, cfg.mark_grace),
        current: None,
        detector: DtmfDetector::new(),
        reorder: Reorder::new(REORDER_FRAMES),
        dedupe: DigitDedupe::new(cfg.dtmf_dedupe_window),
        pcm: Vec::with_capacity(FRAME_SAMPLES * 4),
        frame: [0; FRAME_SAMPLES],
        out_bytes: Vec::with_capacity(FRAME_SAMPLES * 2 * 16),
        released: Vec::new(),
        prompts: shared.prompts(),
        exit: None,
        queue: QueueLink::default(),
        trace: None,
        _slot: setup.slot,
    };
    let exit = s.drive(setup.path_number, setup.query).await;
    s.account_end(&exit);
    s.finish(exit).await;
}

fn param<'a>(params: &'a BTreeMap<String, String>, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|n| params.get(*n))
        .map(String::as_str)
        .filter(|s| !s.is_empty())
}

fn law_of(codec: Codec) -> Option<Law> {
    match codec {
        Codec::Mulaw => Some(Law::Mulaw),
        Codec::Alaw => Some(Law::Alaw),
        Codec::L16 { .. } => None,
    }
}

/// A call id given in the upgrade URL: short, and only characters safe in logs and paths.
fn call_id_ok(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

impl<S> Session<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    async fn drive(
        &mut self,
        path_number: Option<String>,
        query: BTreeMap<String, String>,
    ) -> Exit {
        let (started, early) = match self.await_start().await {
            Ok(x) => x,
            Err(exit) => return exit,
        };
        let mut started = started;
        // The Asterisk dialplan names the call it will ask `/api/calls/{id}/next` about with
        // `v(call_id=${UNIQUEID})`: the WebSocket channel's own id is not known there.
        if let Some(id) = query.get("call_id").filter(|id| call_id_ok(id)) {
            started.call_id = CallId::new(id.clone());
        }
        self.codec = started.codec;
        self.law = law_of(started.codec);
        self.call_id = Some(started.call_id.clone());
        let (facts_tx, facts_rx) = mpsc::channel(32);
        let Some(_claim) = self.shared.registry.claim(
            &started.call_id,
            CallEntry {
                gateway: self.kind.name(),
                flow: None,
                facts: facts_tx,
            },
        ) else {
            tracing::warn!(call = %started.call_id, gateway = %self.kind, "second socket for a running call refused");
            return Exit::Duplicate;
        };
        self.shared
            .metrics
            .calls_started_total
            .with_label_values(&[self.kind.name()])
            .inc();
        let exit = self
            .run_call(started, path_number, query, early, facts_rx)
            .await;
        // Before the claim is released: whoever sees the call gone sees it counted.
        self.account_end(&exit);
        exit
    }

    /// Reads until `start`, keeping early media and digits.
    async fn await_start(&mut self) -> Result<(Started, Vec<Inbound>), Exit> {
        let deadline = Instant::now() + self.shared.config.start_timeout;
        let mut early = Vec::new();
        let shutdown = self.shared.shutdown.clone();
        loop {
            let msg = tokio::select! {
                msg = self.ws.next() => msg,
                () = sleep_until(deadline) => {
                    self.protocol_error("start_timeout");
                    return Err(Exit::StartTimeout);
                }
                () = shutdown.cancelled() => return Err(Exit::Drained),
            };
            match self.decode(msg)? {
                Some(Inbound::Started(st)) => return Ok((st, early)),
                Some(Inbound::Stopped(_)) => return Err(Exit::CallerHungUp),
                Some(ev @ (Inbound::Audio { .. } | Inbound::Dtmf { .. })) => {
                    if early.len() < MAX_EARLY {
                        early.push(ev);
                    } else {
                        self.shared
                            .metrics
                            .media_frames_dropped_total
                            .with_label_values(&["before_start"])
                            .inc();
                    }
                }
                Some(_) | None => {}
            }
        }
    }

    fn protocol_error(&self, reason: &'static str) {
        let kind = ProtocolErrorKind::of_reason(reason);
        self.shared
            .metrics
            .protocol_errors_total
            .with_label_values(&[self.kind.name(), kind.label()])
            .inc();
        tracing::info!(call = ?self.call_id.as_ref().map(CallId::as_str), gateway = %self.kind, reason, "protocol error");
    }

    async fn run_call(
        &mut self,
        started: Started,
        path_number: Option<String>,
        query: BTreeMap<String, String>,
        early: Vec<Inbound>,
        mut facts: mpsc::Receiver<Input>,
    ) -> Exit {
        let mut params = query;
        params.extend(started.params.clone());
        let dialled = param(
            &params,
            &["To", "to", "IVR_TO", "exten", "EXTEN", "dialled"],
        )
        .map(str::to_owned)
        .or(path_number)
        .unwrap_or_default();
        let caller = param(
            &params,
            &["From", "from", "IVR_FROM", "callerid", "CALLERID", "caller"],
        )
        .map(str::to_owned);
        self.queue.caller_masked = caller.as_deref().map(crate::telemetry::redact::mask_number);
        let now = Instant::now();
        let set = self.shared.flows();
        let routed = set.as_ref().and_then(|set| {
            set.route(&dialled)
                .or_else(|| {
                    let id = self.shared.config.default_flow.as_deref()?;
                    set.flows.iter().find(|f| f.id.as_str() == id)
                })
                .map(|flow| (Arc::clone(set), Arc::clone(flow)))
        });
        match routed {
            Some((set, flow)) => {
                let id = started.call_id.clone();
                self.shared.registry.set_flow(&id, flow.id.as_str());
                tracing::info!(call = %id, gateway = %self.kind, flow = %flow.id, version = %flow.version, codec = started.codec.name(), "call started");
                self.trace = Some(CallTrace::start(
                    self.shared.metrics.clone(),
                    self.shared.cdr(),
                    &id,
                    Some(&flow),
                    &dialled,
                    self.queue.caller_masked.clone(),
                    now.into_std(),
                ));
                let info = CallInfo {
                    caller,
                    dialled,
                    started_at: chrono::Utc::now(),
                    flags: self.shared.flags(),
                };
                self.call = Some(Call::new(id, set, flow, info, now.into_std()));
            }
            None => {
                tracing::info!(call = %started.call_id, gateway = %self.kind, "number not in service");
                self.trace = Some(CallTrace::start(
                    self.shared.metrics.clone(),
                    self.shared.cdr(),
                    &started.call_id,
                    None,
                    &dialled,
                    self.queue.caller_masked.clone(),
                    now.into_std(),
                ));
                self.start_not_in_service();
            }
        }
        if let Err(exit) = self.after_input(now).await {
            return exit;
        }
        for ev in early {
            if let Err(exit) = self.handle_inbound(ev, Instant::now()).await {
                return exit;
            }
        }
        self.main_loop(&mut facts).await
    }

    fn start_not_in_service(&mut self) {
        let language = Language::new(self.shared.config.default_language.clone());
        let utterances = [Utterance::Prompt(PromptId::new(NOT_IN_SERVICE_PROMPT))];
        match Playback::new(&self.prompts, &utterances, &language) {
            Ok(playback) => {
                self.current = Some(Current {
                    tag: Tag::NotInService,
                    playback,
                    label: NOT_IN_SERVICE_PROMPT.into(),
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "not_in_service prompt missing; hanging up at once");
                self.exit = Some(Exit::Ended("not_in_service".into()));
            }
        }
    }

    async fn main_loop(&mut self, facts: &mut mpsc::Receiver<Input>) -> Exit {
        let idle = self.shared.config.media_idle_timeout;
        let mut idle_deadline = Instant::now() + idle;
        // A child token of the server's: polling it every turn locks only this call's own
        // state (the server's token has one lock that every call would share, on every frame),
        // and one waiter serves the whole call instead of a fresh one per pass.
        let shutdown = self.shared.shutdown.child_token();
        let cancelled = shutdown.cancelled();
        tokio::pin!(cancelled);
        loop {
            if let Some(exit) = self.exit.take() {
                return exit;
            }
            let now = Instant::now();
            let mut wake = idle_deadline;
            if let Some(t) = self.call.as_ref().and_then(Call::poll_timeout) {
                wake = wake.min(Instant::from_std(t));
            }
            if let Some(t) = self.playout.poll_timeout() {
                wake = wake.min(Instant::from_std(t));
            }
            if self.current.is_some()
                && let Some(t) = self.playout.next_frame_at(now.into_std())
            {
                wake = wake.min(Instant::from_std(t));
            }
            tokio::select! {
                biased;
                () = &mut cancelled => {
                    self.shared.registry.decide(self.id(), Decision::Drained);
                    if let Some(out) = self.dialect.encode(Outbound::Hangup) {
                        let _ = self.send(out).await;
                    }
                    return Exit::Drained;
                }
                msg = self.ws.next() => {
                    let now = Instant::now();
                    idle_deadline = now + idle;
                    let ev = match self.decode(msg) {
                        Ok(Some(ev)) => ev,
                        Ok(None) => continue,
                        Err(exit) => {
                            self.hang_up_core(now);
                            return exit;
                        }
                    };
                    if let Err(exit) = self.handle_inbound(ev, now).await {
                        return exit;
                    }
                }
                notice = QueueLink::next_notice(&mut self.queue.notices) => {
                    let now = Instant::now();
                    if let Some(notice) = notice
                        && let Err(exit) = self.queue_notice(notice, now).await
                    {
                        return exit;
                    }
                    if let Err(exit) = self.after_input(now).await {
                        return exit;
                    }
                }
                fact = facts.recv() => {
                    let now = Instant::now();
                    if let (Some(fact), Some(call)) = (fact, self.call.as_mut()) {
                        call.handle_input(now.into_std(), fact);
                    }
                    if let Err(exit) = self.after_input(now).await {
                        return exit;
                    }
                }
                () = sleep_until(wake) => {
                    let now = Instant::now();
                    if now >= idle_deadline {
                        self.protocol_error("media_timeout");
                        self.hang_up_core(now);
                        return Exit::MediaTimeout;
                    }
                    if let Some(call) = self.call.as_mut()
                        && call.poll_timeout().is_some_and(|t| t <= now.into_std())
                    {
                        call.handle_timeout(now.into_std());
                    }
                    for outcome in self.playout.handle_timeout(now.into_std()) {
                        self.mark_resolved(outcome, now);
                    }
                    if let Err(exit) = self.after_input(now).await {
                        return exit;
                    }
                }
            }
        }
    }

    /// Feeds one notice of the ACD to the call core; the first one that is not a refusal
    /// tells the gateway the caller is queued (an `ev:enqueue:<queue>:<class>` mark), a
    /// refusal that the queue turned the caller away (`ev:refused:no_agents` or `:full`).
    async fn queue_notice(&mut self, notice: QueueNotice, now: Instant) -> Result<(), Exit> {
        if let Some((queue, class)) = self.queue.accepted(&notice) {
            tracing::info!(call = %self.id(), queue = %queue, priority = %class, "queued");
            let name = format!(
                "{EVENT_MARK_PREFIX}enqueue:{}:{}",
                mark_safe(queue.as_str()),
                mark_safe(class.as_str())
            );
            self.send_event_mark(&name).await?;
        }
        let input = self.queue.on_notice(notice);
        let refused = match input {
            Some(Input::QueueNoAgents) => Some("no_agents"),
            Some(Input::QueueFull) => Some("full"),
            _ => None,
        };
        if let Some(reason) = refused {
            if let Some(trace) = self.trace.as_mut() {
                trace.queue_refused();
            }
            self.send_event_mark(&format!("{EVENT_MARK_PREFIX}refused:{reason}"))
                .await?;
        }
        if let Some(input) = input
            && let Some(call) = self.call.as_mut()
        {
            call.handle_input(now.into_std(), input);
        }
        Ok(())
    }

    fn id(&self) -> &CallId {
        static NONE: std::sync::OnceLock<CallId> = std::sync::OnceLock::new();
        self.call_id
            .as_ref()
            .unwrap_or_else(|| NONE.get_or_init(|| CallId::new("")))
    }
}

/// The emergency flags switched on, for new calls.
pub(crate) fn flags_snapshot(flags: &std::sync::Mutex<BTreeSet<String>>) -> BTreeSet<String> {
    flags.lock().map(|f| f.clone()).unwrap_or_default()
}
