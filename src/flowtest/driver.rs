//! Drives one [`Call`] through a test case's steps on a virtual clock.
//!
//! The driver plays the part of the gateway and the caller: it answers every `Play` with a
//! `PlaybackFinished` when the playback would end (lengths from [`PromptDurations`]), fires
//! the call's timers when their deadlines come, presses keys, feeds queue and transfer facts,
//! and jumps the clock from one deadline to the next. It never sleeps and never reads a clock:
//! the origin instant is given.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::call::testing::render;
use crate::call::{Action, Call, CallEvent, CallInfo, Input, LeaveReason, PlaybackId};
use crate::flow::model::{Flow, FlowSet, NodeKind, Utterance};
use crate::flow::test_model::{KEY_GAP, QueueFact, TestCase, TestStep, TransferFact};
use crate::flowtest::coverage::{Seen, Tracker};
use crate::flowtest::durations::PromptDurations;
use crate::ids::{AgentId, CallId, Digit, PriorityClass, QueueId};

/// Most inputs and timer firings one case may take before it is stopped as a runaway.
pub const EVENT_LIMIT: usize = 10_000;

/// The agent that answers when a step says `queue: answered`.
const TEST_AGENT: &str = "test-agent";

/// The reason given with `transfer: failed` (one of the gateway's words).
const TRANSFER_FAILED_REASON: &str = "no_answer";

/// The playback the caller hears now.
#[derive(Debug)]
struct Active {
    id: PlaybackId,
    started: Instant,
    utterances: Vec<Utterance>,
    /// Offset of each utterance's start from `started`.
    starts: Vec<Duration>,
    /// When it ends by itself; `None` for a loop (music on hold).
    end: Option<Instant>,
    barge_in: bool,
}

impl Active {
    /// The utterances that had started by `at` (all of them once it ran to its end).
    fn heard_by(&self, at: Instant) -> impl Iterator<Item = &Utterance> {
        let elapsed = at.saturating_duration_since(self.started);
        self.utterances
            .iter()
            .zip(&self.starts)
            .filter(move |(_, start)| **start <= elapsed)
            .map(|(u, _)| u)
    }
}

/// What a finished case leaves behind.
#[derive(Debug)]
pub struct Finished {
    /// The call, at rest or ended.
    pub call: Call,
    /// Utterances heard, in order (music on hold once each time it starts).
    pub heard: Vec<Utterance>,
    /// The last queue joined and its class.
    pub joined: Option<(QueueId, PriorityClass)>,
    /// Nodes and edges covered.
    pub seen: Seen,
    /// Whether the event budget ran out.
    pub runaway: bool,
    /// Every input and action, stamped with virtual time since the call started.
    pub transcript: Vec<String>,
}

/// One call on a virtual clock.
pub struct Driver<'a> {
    call: Call,
    flow: Arc<Flow>,
    started: Instant,
    now: Instant,
    durations: &'a dyn PromptDurations,
    active: Option<Active>,
    heard: Vec<Utterance>,
    joined: Option<(QueueId, PriorityClass)>,
    tracker: Tracker,
    events: usize,
    callback_asked: bool,
    transcript: Vec<String>,
}

impl<'a> Driver<'a> {
    /// Starts a call for `case` on `flow` at `origin` (the case's wall-clock time is in
    /// `info`) and lets its first actions happen.
    pub fn start(
        id: CallId,
        set: Arc<FlowSet>,
        flow: Arc<Flow>,
        info: CallInfo,
        origin: Instant,
        durations: &'a dyn PromptDurations,
    ) -> Driver<'a> {
        let call = Call::new(id, set, Arc::clone(&flow), info, origin);
        let mut driver = Driver {
            call,
            tracker: Tracker::new(Arc::clone(&flow)),
            flow,
            started: origin,
            now: origin,
            durations,
            active: None,
            heard: Vec::new(),
            joined: None,
            events: 0,
            callback_asked: false,
            transcript: Vec::new(),
        };
        driver.drain();
        driver
    }

    /// Runs every step of `case`, then lets the call settle.
    pub fn run(mut self, case: &TestCase) -> Finished {
        for step in &case.steps {
            if self.runaway() || self.call.is_ended() {
                break;
            }
            self.step(step);
        }
        self.finish_talking();
        self.finish()
    }

    fn runaway(&self) -> bool {
        self.events > EVENT_LIMIT
    }

    fn stamp(&self) -> String {
        let t = self.now.saturating_duration_since(self.started);
        format!("+{}.{:03}s", t.as_secs(), t.subsec_millis())
    }

    /// Runs one step. Every step starts once the call has finished talking: a prompt that
    /// plays towards its end is heard out first (music on hold, which never ends, is not).
    pub fn step(&mut self, step: &TestStep) {
        self.finish_talking();
        match step {
            TestStep::Press(keys) => {
                for (i, key) in keys.iter().enumerate() {
                    if self.call.is_ended() {
                        break;
                    }
                    if i > 0 {
                        self.advance_by(KEY_GAP);
                        self.wait_while(|d| !d.reads_keys());
                    }
                    self.press(*key);
                }
            }
            TestStep::Silence(d) | TestStep::Advance(d) => self.advance_by(*d),
            TestStep::Queue(fact) => match fact {
                QueueFact::Answered => {
                    self.feed(Input::AgentAssigned {
                        agent: AgentId::new(TEST_AGENT),
                    });
                    self.feed(Input::AgentCallEnded);
                }
                QueueFact::Timeout => self.feed(Input::QueueTimedOut),
                QueueFact::NoAgents => self.feed(Input::QueueNoAgents),
                QueueFact::Full => self.feed(Input::QueueFull),
            },
            TestStep::Transfer(fact) => self.feed(match fact {
                TransferFact::Connected => Input::TransferConnected,
                TransferFact::Failed => Input::TransferFailed {
                    reason: TRANSFER_FAILED_REASON.to_owned(),
                },
            }),
            TestStep::Hangup => self.feed(Input::CallerHungUp),
        }
    }

    /// Whether a key pressed now reaches the flow: nothing plays, or what plays may be cut
    /// short, or the call waits in a queue (which reads its exit and callback keys).
    fn reads_keys(&self) -> bool {
        self.active
            .as_ref()
            .is_none_or(|a| a.barge_in || a.end.is_none())
            || self.call.state_name() == "queued"
    }

    /// Lets every prompt that plays towards its end be heard out, and the nodes after it
    /// run, until the call waits for the caller or the outside world (or ends). Timers due
    /// before a prompt ends fire on the way; no timer is waited for beyond that.
    fn finish_talking(&mut self) {
        self.wait_while(|_| true);
    }

    /// While `waiting` holds and a prompt is playing towards its end, lets time run to the
    /// next deadline (the prompt's end or an earlier timer).
    fn wait_while(&mut self, waiting: impl Fn(&Self) -> bool) {
        while waiting(self) && !self.call.is_ended() && !self.runaway() {
            if self.active.as_ref().and_then(|a| a.end).is_none() {
                return;
            }
            let Some(next) = self.next_deadline() else {
                return;
            };
            self.now = self.now.max(next);
            self.fire();
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let playback = self.active.as_ref().and_then(|a| a.end);
        match (self.call.poll_timeout(), playback) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Lets `d` pass. A span past what the clock can represent lets time run until no
    /// deadline is left (or the event budget is spent) instead of overflowing.
    fn advance_by(&mut self, d: Duration) {
        match self.now.checked_add(d) {
            Some(target) => self.advance_to(target),
            None => {
                while !self.runaway() {
                    let Some(next) = self.next_deadline() else {
                        break;
                    };
                    self.now = self.now.max(next);
                    self.fire();
                }
            }
        }
    }

    /// Lets time run to `target`, handling every deadline on the way in order.
    fn advance_to(&mut self, target: Instant) {
        while !self.runaway() {
            match self.next_deadline() {
                Some(next) if next <= target => {
                    self.now = self.now.max(next);
                    self.fire();
                }
                _ => break,
            }
        }
        self.now = self.now.max(target);
    }

    /// Handles what is due at `now`: the end of the playback, else the call's timers.
    fn fire(&mut self) {
        let ended = self
            .active
            .as_ref()
            .filter(|a| a.end.is_some_and(|end| end <= self.now))
            .map(|a| a.id);
        match ended {
            Some(id) => self.feed(Input::PlaybackFinished(id)),
            None => {
                self.events += 1;
                self.call.handle_timeout(self.now);
                self.drain();
            }
        }
    }

    fn press(&mut self, key: Digit) {
        // Keys typed into a secure collect are not written into the transcript.
        let secure = self
            .tracker
            .current()
            .is_some_and(|at| matches!(&self.flow.node(at).kind, NodeKind::Collect(c) if c.secure));
        let shown = if secure { '*' } else { key.as_char() };
        self.transcript
            .push(format!("{} <- key {shown}", self.stamp()));
        self.feed_quiet(Input::DigitReceived(key));
    }

    fn feed(&mut self, input: Input) {
        let line = match &input {
            Input::DigitReceived(_) => "key".to_owned(),
            Input::PlaybackFinished(id) => format!("finished{id}"),
            Input::CallerHungUp => "caller hung up".to_owned(),
            Input::AgentAssigned { agent } => format!("agent {agent} answered"),
            Input::AgentCallEnded => "agent call ended".to_owned(),
            Input::QueueTimedOut => "queue timed out".to_owned(),
            Input::QueueNoAgents => "queue has no agents".to_owned(),
            Input::QueueFull => "queue full".to_owned(),
            Input::CallbackRegistered => "callback registered".to_owned(),
            Input::TransferConnected => "transfer connected".to_owned(),
            Input::TransferFailed { reason } => format!("transfer failed {reason}"),
            Input::QueueStatus { position, .. } => format!("queue position {position}"),
        };
        self.transcript.push(format!("{} <- {line}", self.stamp()));
        self.feed_quiet(input);
    }

    fn feed_quiet(&mut self, input: Input) {
        self.events += 1;
        let waits = self.call.state_name();
        let hint = match &input {
            Input::QueueTimedOut => Some("timeout"),
            Input::QueueNoAgents => Some("no_agents"),
            Input::QueueFull => Some("full"),
            Input::CallbackRegistered => Some("callback_registered"),
            Input::TransferConnected => Some("connected"),
            _ => None,
        };
        if let Some(outcome) = hint
            && matches!(waits, "queued" | "transferring")
        {
            self.tracker.hint(outcome);
        }
        if let Input::PlaybackFinished(id) = &input
            && self.active.as_ref().is_some_and(|a| a.id == *id)
        {
            self.end_playback(None);
        }
        self.call.handle_input(self.now, input);
        self.drain();
    }

    /// Ends the active playback: stopped at `now` (`Some`) or run to its end (`None`).
    fn end_playback(&mut self, stopped: Option<Instant>) {
        let Some(active) = self.active.take() else {
            return;
        };
        // A loop (music on hold) counts once, from its start, however long it ran.
        let at = stopped.or(active.end).unwrap_or(self.now);
        self.heard.extend(active.heard_by(at).cloned());
    }

    fn drain(&mut self) {
        while let Some(action) = self.call.poll_action() {
            self.transcript
                .push(format!("{} {}", self.stamp(), render(&action)));
            match action {
                Action::Play {
                    playback,
                    utterances,
                    language,
                    barge_in,
                    repeat,
                } => {
                    self.end_playback(Some(self.now));
                    let mut starts = Vec::with_capacity(utterances.len());
                    let mut length = Duration::ZERO;
                    for u in &utterances {
                        starts.push(length);
                        length = length.saturating_add(self.durations.duration(u, &language));
                    }
                    self.active = Some(Active {
                        id: playback,
                        started: self.now,
                        utterances,
                        starts,
                        end: (!repeat).then(|| self.now.checked_add(length)).flatten(),
                        barge_in,
                    });
                }
                Action::StopPlayback { playback } => {
                    if self.active.as_ref().is_some_and(|a| a.id == playback) {
                        self.end_playback(Some(self.now));
                    }
                }
                Action::Enqueue {
                    queue, priority, ..
                } => self.joined = Some((queue, priority)),
                Action::LeaveQueue {
                    reason: LeaveReason::Exited,
                    ..
                } => self.tracker.hint("exit"),
                Action::RequestCallback { .. } => self.callback_asked = true,
                Action::Emit(event) => {
                    self.tracker.observe(&event);
                    if matches!(event, CallEvent::Ended { .. }) {
                        self.end_playback(Some(self.now));
                    }
                }
                Action::LeaveQueue { .. } | Action::Transfer { .. } | Action::Hangup { .. } => {}
            }
        }
        // The simulated queue registers a callback as soon as the call asks for one.
        if std::mem::take(&mut self.callback_asked) && !self.runaway() {
            self.feed(Input::CallbackRegistered);
        }
    }

    fn finish(mut self) -> Finished {
        let runaway = self.runaway();
        self.end_playback(Some(self.now));
        Finished {
            call: self.call,
            heard: self.heard,
            joined: self.joined,
            seen: self.tracker.into_seen(),
            runaway,
            transcript: self.transcript,
        }
    }
}

/// The emergency flags of a case as the call core wants them.
pub fn flags(case: &TestCase) -> BTreeSet<String> {
    case.flags.iter().cloned().collect()
}
