//! One call's state machine: facts in, commands out, time passed in (sans-IO).
//!
//! A [`Call`] walks a compiled [`Flow`] for one caller. The shell feeds it facts with
//! [`Call::handle_input`] and the passing of time with [`Call::handle_timeout`], then drains
//! [`Call::poll_action`] until `None` and re-arms one sleep at [`Call::poll_timeout`]. The same
//! inputs at the same instants always give the same actions, so tests run ten minutes of call
//! on a virtual clock in a millisecond.
//!
//! This module must not read a clock, touch sockets, files or the runtime, log, or record
//! metrics: time is an argument, everything observable is an [`Action`] (including
//! [`Action::Emit`] of a [`CallEvent`] for metrics and records).
//!
//! ## States
//!
//! One struct per state, named for what the call waits for (see `state.rs`): `Prompting` (a
//! play node's prompt), `Choosing` (a menu), `Collecting` and `Confirming` (a collect and its
//! read-back), `Queued`, `Bridged` (with an agent), `Transferring`, `HangingUp` (a hangup
//! node's last prompt) and `Ended`. A transition consumes the old state. Instantaneous nodes
//! (`set`, `branch`, `schedule`, `language`, `lookup` on a local table, and a `play` with no
//! prompts) run in a loop capped at [`STEP_LIMIT`] node entries per input; passing the cap
//! ends the call with [`CallError::StepLimit`].
//!
//! ## Guarantees
//!
//! - At most one playback is active: a new `Play` is always preceded by the end (a
//!   `PlaybackFinished`) or a `StopPlayback` of the previous one.
//! - Races never panic: a key while bridged, a stale playback id, a queue fact out of place
//!   are dropped and counted (an [`CallEvent::InputDropped`] while the call runs; after it
//!   ended, only [`Counters::dropped`]).
//! - Exactly one [`CallEvent::Ended`] per call, the last action it ever gives.
//! - After every `handle_*`, [`Call::poll_timeout`] is later than the `now` handled (every
//!   timer due by then has fired) or `None`.
//! - Secure values live in the call's variables (so branches can test them) but are never
//!   emitted, never put in a [`QueueContext`] and print as `***` in `Debug`.

mod calendar;
mod io;
mod state;
pub mod testing;
mod timer;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use calendar::DayState;
pub use io::{
    Action, CallError, CallEvent, CallInfo, DropReason, EndReason, FailureKind, Input, LeaveReason,
    Party, PlaybackId, QueueContext, Secret,
};
pub use state::{
    MINUTES_PROMPT, QUEUE_POSITION_PROMPT, QUEUE_WAIT_MINUTES_PROMPT, QUEUE_WAIT_UNKNOWN_PROMPT,
};
pub use timer::{Timer, TimerTable};

use crate::flow::expr::{Expr, Scope};
use crate::flow::model::{Flow, FlowSet, NodeIndex, Utterance, Value};
use crate::ids::{CallId, Language, NodeId};
use state::{Ending, Next, State};

/// Most node entries (and timer firings) one input may cause before the call is ended with
/// [`CallError::StepLimit`]: a flow looping without waiting for the caller.
pub const STEP_LIMIT: usize = 1000;

/// Language used when a flow declares none (the compiler refuses such flows).
const FALLBACK_LANGUAGE: &str = "und";

/// Running totals of one call, for tests, metrics and the call record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Inputs dropped: races, keys nobody reads, anything after the call ended.
    pub dropped: u64,
    /// Keys received (including dropped ones).
    pub keys: u64,
    /// Invalid entries at menus and collects.
    pub invalid: u64,
    /// Silences at menus and collects.
    pub no_input: u64,
    /// Playbacks started.
    pub plays: u64,
}

/// A variable's value, marked when it came from a secure collect (or was computed from one).
#[derive(Clone, Debug, PartialEq)]
enum Slot {
    Plain(Value),
    Secure(Secret<Value>),
}

impl Slot {
    fn value(&self) -> &Value {
        match self {
            Slot::Plain(v) => v,
            Slot::Secure(Secret(v)) => v,
        }
    }
}

/// Everything a call has besides its state: the flow, variables, timers and the outputs.
struct Ctx {
    set: Arc<FlowSet>,
    flow: Arc<Flow>,
    info: CallInfo,
    started: Instant,
    now: Instant,
    node: NodeIndex,
    node_id: NodeId,
    vars: BTreeMap<String, Slot>,
    language: Language,
    path: Vec<NodeId>,
    counters: Counters,
    timers: TimerTable,
    actions: VecDeque<Action>,
    next_playback: u64,
    playing: Option<PlaybackId>,
    steps: usize,
}

impl Ctx {
    fn emit(&mut self, event: CallEvent) {
        self.actions.push_back(Action::Emit(event));
    }

    fn drop_input(&mut self, reason: DropReason) {
        self.counters.dropped += 1;
        self.emit(CallEvent::InputDropped { reason });
    }

    /// Starts a playback, stopping the current one first so only one is ever active.
    fn play(&mut self, utterances: Vec<Utterance>, barge_in: bool, repeat: bool) -> PlaybackId {
        self.stop_playback();
        self.next_playback += 1;
        let playback = PlaybackId(self.next_playback);
        self.counters.plays += 1;
        self.playing = Some(playback);
        self.actions.push_back(Action::Play {
            playback,
            utterances,
            language: self.language.clone(),
            barge_in,
            repeat,
        });
        playback
    }

    fn stop_playback(&mut self) {
        if let Some(playback) = self.playing.take() {
            self.actions.push_back(Action::StopPlayback { playback });
        }
    }

    fn set_timer(&mut self, timer: Timer, after: Duration) {
        self.timers.set(timer, self.now, after);
    }

    fn node_id(&self) -> NodeId {
        self.node_id.clone()
    }

    fn set_var(&mut self, name: &str, value: Value, secure: bool) {
        let slot = if secure {
            Slot::Secure(Secret(value))
        } else {
            Slot::Plain(value)
        };
        self.vars.insert(name.to_owned(), slot);
    }

    /// Whether `expr` reads a secure variable (its result is then secure too).
    fn reads_secure(&self, expr: &Expr) -> bool {
        expr.paths().iter().any(|p| {
            p.strip_prefix("vars.")
                .is_some_and(|name| matches!(self.vars.get(name), Some(Slot::Secure(_))))
        })
    }

    /// Wall-clock now: the call's start plus the control time elapsed since.
    fn wall_now(&self) -> chrono::DateTime<chrono::Utc> {
        let elapsed = self.now.saturating_duration_since(self.started);
        chrono::TimeDelta::from_std(elapsed)
            .ok()
            .and_then(|d| self.info.started_at.checked_add_signed(d))
            .unwrap_or(self.info.started_at)
    }

    fn queue_context(&self) -> QueueContext {
        QueueContext {
            flow: self.flow.id.clone(),
            line: self.flow.name.clone(),
            dialled: self.info.dialled.clone(),
            path: self.path.clone(),
            vars: self
                .vars
                .iter()
                .filter_map(|(k, slot)| match slot {
                    Slot::Plain(v) => Some((k.clone(), v.clone())),
                    Slot::Secure(_) => None,
                })
                .collect(),
        }
    }
}

impl Scope for Ctx {
    fn lookup(&self, path: &str) -> Value {
        let text = |s: &str| Value::Str(s.to_owned());
        match path {
            "caller.number" => self.info.caller.as_deref().map_or(Value::Null, text),
            "call.number" => text(&self.info.dialled),
            "call.language" => text(self.language.as_str()),
            _ => {
                if let Some(flag) = path.strip_prefix("call.flags.") {
                    Value::Bool(self.info.flags.contains(flag))
                } else if let Some(name) = path.strip_prefix("vars.") {
                    self.vars
                        .get(name)
                        .map_or(Value::Null, |slot| slot.value().clone())
                } else {
                    Value::Null
                }
            }
        }
    }
}

/// One call walking one flow. See the module docs for the contract.
pub struct Call {
    id: CallId,
    ctx: Ctx,
    state: State,
}

impl Call {
    /// Starts a call on `flow` (a running call keeps this version for its whole life; `set`
    /// supplies the queues, calendars and tables it names) and enters the flow's entry node.
    pub fn new(
        id: CallId,
        set: Arc<FlowSet>,
        flow: Arc<Flow>,
        info: CallInfo,
        now: Instant,
    ) -> Call {
        let language = flow
            .languages
            .first()
            .cloned()
            .unwrap_or_else(|| Language::new(FALLBACK_LANGUAGE));
        let vars = flow
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), Slot::Plain(v.clone())))
            .collect();
        let mut timers = TimerTable::default();
        timers.set(Timer::MaxCallDuration, now, flow.max_call_duration);
        let entry = flow.entry;
        let ctx = Ctx {
            set,
            flow,
            info,
            started: now,
            now,
            node: entry,
            node_id: NodeId::new(""),
            vars,
            language,
            path: Vec::new(),
            counters: Counters::default(),
            timers,
            actions: VecDeque::new(),
            next_playback: 0,
            playing: None,
            steps: 0,
        };
        let mut call = Call {
            id,
            ctx,
            state: State::Starting,
        };
        call.apply(Next::Goto(entry));
        call.fire_timers();
        call
    }

    /// Feeds one fact that happened at `now`.
    pub fn handle_input(&mut self, now: Instant, input: Input) {
        if self.is_ended() {
            self.ctx.counters.dropped += 1;
            return;
        }
        self.advance(now);
        if matches!(input, Input::DigitReceived(_)) {
            self.ctx.counters.keys += 1;
        }
        match input {
            Input::CallerHungUp => {
                let old = self.take_state();
                if let State::Queued(q) = &old {
                    q.leave(&mut self.ctx, LeaveReason::Abandoned);
                }
                self.finish(Ending {
                    reason: EndReason::CallerHungUp,
                    by: Party::Caller,
                    hang_up: false,
                });
            }
            Input::PlaybackFinished(id) if self.ctx.playing != Some(id) => {
                self.ctx.drop_input(DropReason::StalePlayback);
            }
            input => {
                if let Input::PlaybackFinished(_) = input {
                    self.ctx.playing = None;
                }
                let old = self.take_state();
                let next = old.on_input(&mut self.ctx, input);
                self.apply(next);
            }
        }
        self.fire_timers();
    }

    /// Fires every timer whose deadline is at or before `now`. Calling it early does
    /// nothing; a `now` earlier than one already seen is treated as that one.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_ended() {
            return;
        }
        self.advance(now);
        self.fire_timers();
    }

    /// The next command for the shell, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.ctx.actions.pop_front()
    }

    /// When [`Call::handle_timeout`] should next be called; `None` once the call has ended.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.ctx.timers.next()
    }

    /// Whether the call has ended (its `Ended` event has been queued).
    pub fn is_ended(&self) -> bool {
        matches!(self.state, State::Ended(_))
    }

    /// How the call ended, once it has.
    pub fn outcome(&self) -> Option<&EndReason> {
        match &self.state {
            State::Ended(e) => Some(&e.reason),
            _ => None,
        }
    }

    /// The call's id.
    pub fn id(&self) -> &CallId {
        &self.id
    }

    /// The flow the call runs.
    pub fn flow(&self) -> &Arc<Flow> {
        &self.ctx.flow
    }

    /// The node the call is at (or ended in).
    pub fn node(&self) -> &NodeId {
        &self.ctx.node_id
    }

    /// What the call waits for now (`choosing`, `queued`, `ended`, ...).
    pub fn state_name(&self) -> &'static str {
        self.state.name()
    }

    /// A variable's value (secure ones included: this is for tests, never for logs).
    pub fn var(&self, name: &str) -> Option<&Value> {
        self.ctx.vars.get(name).map(Slot::value)
    }

    /// The prompt language.
    pub fn language(&self) -> &Language {
        &self.ctx.language
    }

    /// Every node entered, in order.
    pub fn path(&self) -> &[NodeId] {
        &self.ctx.path
    }

    /// Running totals.
    pub fn counters(&self) -> Counters {
        self.ctx.counters
    }

    /// The playback currently active, if any.
    pub fn playing(&self) -> Option<PlaybackId> {
        self.ctx.playing
    }

    fn advance(&mut self, now: Instant) {
        if now > self.ctx.now {
            self.ctx.now = now;
        }
        self.ctx.steps = 0;
    }

    fn take_state(&mut self) -> State {
        std::mem::replace(&mut self.state, State::Starting)
    }

    fn apply(&mut self, next: Next) {
        match next {
            Next::Stay(state) => self.state = state,
            Next::Goto(index) => {
                self.ctx.timers.stop(Timer::NoInput);
                self.ctx.timers.stop(Timer::InterDigit);
                self.ctx.timers.stop(Timer::Announcement);
                self.ctx.stop_playback();
                match state::enter(&mut self.ctx, index) {
                    Ok(state) => self.state = state,
                    Err(ending) => self.finish(ending),
                }
            }
            Next::End(ending) => self.finish(ending),
        }
    }

    fn finish(&mut self, ending: Ending) {
        let cx = &mut self.ctx;
        cx.timers.stop_all();
        if ending.hang_up {
            cx.stop_playback();
            cx.actions.push_back(Action::Hangup {
                reason: ending.reason.clone(),
            });
        } else {
            cx.playing = None;
        }
        let node = cx.node_id();
        cx.emit(CallEvent::Ended {
            outcome: ending.reason.clone(),
            hung_up_by: ending.by,
            node,
        });
        self.state = State::Ended(state::Ended {
            reason: ending.reason,
        });
    }

    fn fire_timers(&mut self) {
        let now = self.ctx.now;
        while !self.is_ended() {
            let Some(timer) = self.ctx.timers.take_expired(now) else {
                break;
            };
            self.ctx.steps += 1;
            if self.ctx.steps > STEP_LIMIT {
                let node = self.ctx.node_id();
                self.take_state()
                    .leave_queue(&mut self.ctx, LeaveReason::MaxDuration);
                self.finish(Ending::error(CallError::StepLimit {
                    limit: STEP_LIMIT,
                    node,
                }));
                break;
            }
            let old = self.take_state();
            if timer == Timer::MaxCallDuration {
                old.leave_queue(&mut self.ctx, LeaveReason::MaxDuration);
                self.finish(Ending {
                    reason: EndReason::MaxDuration,
                    by: Party::Engine,
                    hang_up: true,
                });
            } else {
                let next = old.on_timer(&mut self.ctx, timer);
                self.apply(next);
            }
        }
    }
}

impl fmt::Debug for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("id", &self.id)
            .field("flow", &self.ctx.flow.id)
            .field("node", self.node())
            .field("state", &self.state)
            .field("language", &self.ctx.language)
            .field("vars", &self.ctx.vars)
            .field("info", &self.ctx.info)
            .field("counters", &self.ctx.counters)
            .finish()
    }
}
