//! The call's states, one struct per thing the call waits for, and the walk through
//! instantaneous nodes.
//!
//! Every handler takes the state by value and returns a [`Next`]: stay (in a possibly new
//! state of the same node), go to a node, or end. Nothing here reads a clock or does I/O;
//! outputs go to the [`Ctx`] queue.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::io::{
    CallError, CallEvent, DropReason, EndReason, FailureKind, Input, LeaveReason, Party,
    PlaybackId, Secret,
};
use super::{Ctx, STEP_LIMIT, Timer};
use crate::call::calendar::DayState;
use crate::flow::expr::text;
use crate::flow::model::{
    Collect, Enqueue, Flow, Menu, NodeIndex, NodeKind, Prompts, QueueConfig, Reading, Utterance,
    Validation, Value,
};
use crate::ids::{PromptId, QueueId};

/// Prompt played before the position ("you are caller number" / "您前面还有").
pub const QUEUE_POSITION_PROMPT: &str = "queue_position";
/// Prompt played before the estimated wait in minutes ("the wait is about").
pub const QUEUE_WAIT_MINUTES_PROMPT: &str = "queue_wait_minutes";
/// Prompt played after the number of minutes ("minutes").
pub const MINUTES_PROMPT: &str = "minutes";
/// Prompt played when the queue cannot estimate the wait.
pub const QUEUE_WAIT_UNKNOWN_PROMPT: &str = "queue_wait_unknown";

/// How a call ends.
pub(super) struct Ending {
    pub(super) reason: EndReason,
    pub(super) by: Party,
    /// Whether the engine hangs the caller up (else the line is already gone or handed on).
    pub(super) hang_up: bool,
}

impl Ending {
    pub(super) fn error(error: CallError) -> Ending {
        Ending {
            reason: EndReason::Error(error),
            by: Party::Engine,
            hang_up: true,
        }
    }
}

/// What a handler decided.
pub(super) enum Next {
    /// Keep waiting, in this state.
    Stay(State),
    /// Enter a node.
    Goto(NodeIndex),
    /// End the call.
    End(Ending),
}

/// What the call waits for.
#[derive(Debug)]
pub(super) enum State {
    /// Only while a transition is being computed, never observed outside one.
    Starting,
    Prompting(Prompting),
    Choosing(Choosing),
    Collecting(Collecting),
    Confirming(Confirming),
    Queued(Queued),
    Transferring(Transferring),
    Bridged(Bridged),
    HangingUp(HangingUp),
    Ended(Ended),
}

/// A play node's prompt is running; waiting for it to end (or a key, with barge-in).
#[derive(Debug)]
pub(super) struct Prompting {
    playback: PlaybackId,
    barge_in: bool,
    next: NodeIndex,
}

/// Whether a reading node's prompt still plays or keys are awaited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Prompt(PlaybackId),
    Keys,
}

/// Failures at one visit of a reading node.
#[derive(Clone, Copy, Debug, Default)]
struct Tries {
    invalid: u32,
    no_input: u32,
    consecutive: u32,
}

impl Tries {
    fn record(&mut self, cx: &mut Ctx, kind: FailureKind) -> u32 {
        self.consecutive = self.consecutive.saturating_add(1);
        match kind {
            FailureKind::Invalid => {
                cx.counters.invalid += 1;
                self.invalid = self.invalid.saturating_add(1);
                self.invalid
            }
            FailureKind::NoInput => {
                cx.counters.no_input += 1;
                self.no_input = self.no_input.saturating_add(1);
                self.no_input
            }
        }
    }

    fn exhausted(&self, reading: &Reading) -> bool {
        self.consecutive >= reading.attempts.max(1)
    }
}

/// A menu: prompt playing with barge-in, then reading an option.
#[derive(Debug)]
pub(super) struct Choosing {
    node: NodeIndex,
    tries: Tries,
    phase: Phase,
    keys: String,
}

/// Keys typed into a collect; `Debug` shows only how many.
#[derive(Clone, Default, PartialEq)]
struct DigitBuffer(String);

impl fmt::Debug for DigitBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} keys", self.0.chars().count())
    }
}

/// A collect: prompt playing with barge-in, then reading the entry.
#[derive(Debug)]
pub(super) struct Collecting {
    node: NodeIndex,
    tries: Tries,
    phase: Phase,
    keys: DigitBuffer,
}

/// A collect's read-back: waiting for the yes or no key.
#[derive(Debug)]
pub(super) struct Confirming {
    node: NodeIndex,
    tries: Tries,
    phase: Phase,
    value: Secret<String>,
}

/// What a queued caller hears now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hearing {
    /// The enqueue node's prompt.
    Prompt(PlaybackId),
    /// Music on hold.
    Music(PlaybackId),
    /// A position/wait announcement.
    Announcement(PlaybackId),
}

/// In a queue: music on hold and announcements, waiting for an agent or an exit.
#[derive(Debug)]
pub(super) struct Queued {
    node: NodeIndex,
    queue: Arc<QueueConfig>,
    hearing: Hearing,
    status: Option<(u32, Option<Duration>)>,
    announced: Option<u32>,
    callback_requested: bool,
}

/// Talking to an agent; waiting for the agent leg to end.
#[derive(Debug)]
pub(super) struct Bridged {
    node: NodeIndex,
}

/// A transfer was asked for; waiting for it to connect or fail.
#[derive(Debug)]
pub(super) struct Transferring {
    node: NodeIndex,
}

/// A hangup node's last prompt is running.
#[derive(Debug)]
pub(super) struct HangingUp {
    playback: PlaybackId,
    reason: String,
}

/// Over. Everything is dropped.
#[derive(Debug)]
pub(super) struct Ended {
    pub(super) reason: EndReason,
}

/// Enters `index`, running instantaneous nodes until one waits for something.
pub(super) fn enter(cx: &mut Ctx, mut index: NodeIndex) -> Result<State, Ending> {
    let flow = Arc::clone(&cx.flow);
    loop {
        let Some(node) = flow.nodes.get(index.0) else {
            return Err(Ending::error(CallError::BadNode(index.0)));
        };
        cx.steps += 1;
        if cx.steps > STEP_LIMIT {
            return Err(Ending::error(CallError::StepLimit {
                limit: STEP_LIMIT,
                node: node.id.clone(),
            }));
        }
        cx.node = index;
        cx.node_id = node.id.clone();
        cx.path.push(node.id.clone());
        cx.emit(CallEvent::NodeEntered {
            node: node.id.clone(),
            kind: crate::flow::graph::kind_name(&node.kind),
        });
        index = match &node.kind {
            NodeKind::Play(play) => {
                if play.prompts.is_empty() {
                    play.next
                } else {
                    let playback = cx.play(play.prompts.clone(), play.barge_in, false);
                    return Ok(State::Prompting(Prompting {
                        playback,
                        barge_in: play.barge_in,
                        next: play.next,
                    }));
                }
            }
            NodeKind::Menu(menu) => {
                let phase = listen(cx, &menu.prompt, &menu.reading);
                return Ok(State::Choosing(Choosing {
                    node: index,
                    tries: Tries::default(),
                    phase,
                    keys: String::new(),
                }));
            }
            NodeKind::Collect(collect) => {
                let phase = listen(cx, &collect.prompt, &collect.reading);
                return Ok(State::Collecting(Collecting {
                    node: index,
                    tries: Tries::default(),
                    phase,
                    keys: DigitBuffer::default(),
                }));
            }
            NodeKind::Set(set) => {
                for (var, expr) in &set.assignments {
                    let value = expr.eval(cx);
                    let secure = cx.reads_secure(expr);
                    cx.set_var(var, value, secure);
                }
                set.next
            }
            NodeKind::Branch(branch) => branch
                .cases
                .iter()
                .find(|(_, cond, _)| cond.is_true(cx))
                .map_or(branch.default, |(_, _, target)| *target),
            NodeKind::Schedule(schedule) => {
                let Some(calendar) = cx.set.calendars.get(&schedule.calendar) else {
                    return Err(Ending::error(CallError::UnknownCalendar(
                        schedule.calendar.clone(),
                    )));
                };
                let state = calendar.state_at(cx.wall_now(), &cx.info.flags);
                cx.emit(CallEvent::ScheduleChecked {
                    calendar: schedule.calendar.clone(),
                    state,
                });
                match state {
                    DayState::Open => schedule.open,
                    DayState::Closed => schedule.closed,
                    DayState::Holiday => schedule.holiday,
                    DayState::Emergency => schedule.emergency,
                }
            }
            NodeKind::SetLanguage(lang) => {
                if cx.language != lang.language {
                    cx.language = lang.language.clone();
                    cx.emit(CallEvent::LanguageChanged {
                        language: lang.language.clone(),
                    });
                }
                lang.next
            }
            NodeKind::Lookup(lookup) => {
                let set = Arc::clone(&cx.set);
                match set.tables.get(&lookup.table) {
                    None => lookup.error,
                    Some(table) => {
                        let key = text(&lookup.key.eval(cx));
                        let row = table.rows.get(&key);
                        cx.emit(CallEvent::LookedUp {
                            node: node.id.clone(),
                            found: row.is_some(),
                        });
                        match row {
                            None => lookup.not_found,
                            Some(row) => {
                                for (var, column) in &lookup.fields {
                                    let value = row
                                        .get(column)
                                        .map_or(Value::Null, |v| Value::Str(v.clone()));
                                    if let Value::Str(v) = &value {
                                        cx.emit(CallEvent::ValueLookedUp {
                                            var: var.clone(),
                                            value: v.clone(),
                                        });
                                    }
                                    cx.set_var(var, value, false);
                                }
                                lookup.ok
                            }
                        }
                    }
                }
            }
            NodeKind::Enqueue(enqueue) => return Queued::enter(cx, index, enqueue),
            NodeKind::Transfer(transfer) => {
                cx.actions.push_back(super::Action::Transfer {
                    target: transfer.target.clone(),
                });
                return Ok(State::Transferring(Transferring { node: index }));
            }
            NodeKind::Hangup(hangup) => {
                if hangup.prompts.is_empty() {
                    return Err(Ending {
                        reason: EndReason::Flow(hangup.reason.clone()),
                        by: Party::Engine,
                        hang_up: true,
                    });
                }
                let playback = cx.play(hangup.prompts.clone(), false, false);
                return Ok(State::HangingUp(HangingUp {
                    playback,
                    reason: hangup.reason.clone(),
                }));
            }
        };
    }
}

/// Plays a reading node's prompt with barge-in, or, with nothing to play, starts waiting for
/// the first key at once.
fn listen(cx: &mut Ctx, prompts: &Prompts, reading: &Reading) -> Phase {
    if prompts.is_empty() {
        cx.set_timer(Timer::NoInput, reading.timeout);
        Phase::Keys
    } else {
        Phase::Prompt(cx.play(prompts.clone(), true, false))
    }
}

/// The failure prompt for `kind` followed by `then`.
fn after_failure(reading: &Reading, kind: FailureKind, then: &Prompts) -> Prompts {
    let first = match kind {
        FailureKind::Invalid => &reading.invalid_prompt,
        FailureKind::NoInput => &reading.no_input_prompt,
    };
    first.iter().chain(then.iter()).cloned().collect()
}

/// A key arrived at a reading node: a running prompt is cut short (barge-in) and the key
/// counts as the first one; the no-input wait is over.
fn key_arrived(cx: &mut Ctx, phase: &mut Phase) {
    if let Phase::Prompt(_) = phase {
        cx.stop_playback();
    }
    *phase = Phase::Keys;
    cx.timers.stop(Timer::NoInput);
    cx.timers.stop(Timer::InterDigit);
}

/// The prompt of a reading node ended: start the first-key timeout.
fn prompt_ended(cx: &mut Ctx, phase: &mut Phase, playback: PlaybackId, reading: &Reading) {
    if *phase == Phase::Prompt(playback) {
        *phase = Phase::Keys;
        cx.set_timer(Timer::NoInput, reading.timeout);
    }
}

fn menu_of(flow: &Flow, index: NodeIndex) -> Option<&Menu> {
    match &flow.nodes.get(index.0)?.kind {
        NodeKind::Menu(menu) => Some(menu),
        _ => None,
    }
}

fn collect_of(flow: &Flow, index: NodeIndex) -> Option<&Collect> {
    match &flow.nodes.get(index.0)?.kind {
        NodeKind::Collect(collect) => Some(collect),
        _ => None,
    }
}

fn enqueue_of(flow: &Flow, index: NodeIndex) -> Option<&Enqueue> {
    match &flow.nodes.get(index.0)?.kind {
        NodeKind::Enqueue(enqueue) => Some(enqueue),
        _ => None,
    }
}

impl State {
    pub(super) fn name(&self) -> &'static str {
        match self {
            State::Starting => "starting",
            State::Prompting(_) => "prompting",
            State::Choosing(_) => "choosing",
            State::Collecting(_) => "collecting",
            State::Confirming(_) => "confirming",
            State::Queued(_) => "queued",
            State::Transferring(_) => "transferring",
            State::Bridged(_) => "bridged",
            State::HangingUp(_) => "hanging_up",
            State::Ended(_) => "ended",
        }
    }

    /// Tells the queue the caller is gone, if the call waits in one (and has not asked for a
    /// callback, which keeps its place after the caller hangs up).
    pub(super) fn leave_queue(&self, cx: &mut Ctx, reason: LeaveReason) {
        if let State::Queued(q) = self {
            q.leave(cx, reason);
        }
    }

    /// Handles any input but a hang-up (handled by the call) or a stale playback id (dropped
    /// before it gets here).
    pub(super) fn on_input(self, cx: &mut Ctx, input: Input) -> Next {
        match self {
            State::Prompting(s) => s.on_input(cx, input),
            State::Choosing(s) => s.on_input(cx, input),
            State::Collecting(s) => s.on_input(cx, input),
            State::Confirming(s) => s.on_input(cx, input),
            State::Queued(s) => s.on_input(cx, input),
            State::Transferring(s) => s.on_input(cx, input),
            State::Bridged(s) => s.on_input(cx, input),
            State::HangingUp(s) => s.on_input(cx, input),
            state @ (State::Starting | State::Ended(_)) => {
                cx.counters.dropped += 1;
                Next::Stay(state)
            }
        }
    }

    /// Handles an expired timer other than the maximum call duration.
    pub(super) fn on_timer(self, cx: &mut Ctx, timer: Timer) -> Next {
        match (self, timer) {
            (State::Choosing(s), Timer::NoInput | Timer::InterDigit) => s.on_timer(cx, timer),
            (State::Collecting(s), Timer::NoInput | Timer::InterDigit) => s.on_timer(cx, timer),
            (State::Confirming(s), Timer::NoInput) => s.fail(cx, FailureKind::NoInput),
            (State::Queued(s), Timer::Announcement) => s.announce(cx),
            // A timer left over from another state: nothing to do.
            (state, _) => Next::Stay(state),
        }
    }
}

/// Drops an input the state does not read.
fn ignore(cx: &mut Ctx, input: &Input, state: State) -> Next {
    let reason = match input {
        Input::DigitReceived(_) => DropReason::KeyIgnored,
        _ => DropReason::UnexpectedFact,
    };
    cx.drop_input(reason);
    Next::Stay(state)
}

impl Prompting {
    fn on_input(self, cx: &mut Ctx, input: Input) -> Next {
        match input {
            Input::PlaybackFinished(id) if id == self.playback => Next::Goto(self.next),
            Input::DigitReceived(_) if self.barge_in => {
                cx.stop_playback();
                Next::Goto(self.next)
            }
            Input::DigitReceived(_) => {
                cx.drop_input(DropReason::KeyDuringPrompt);
                Next::Stay(State::Prompting(self))
            }
            other => ignore(cx, &other, State::Prompting(self)),
        }
    }
}

impl Choosing {
    fn on_input(mut self, cx: &mut Ctx, input: Input) -> Next {
        let flow = Arc::clone(&cx.flow);
        let Some(menu) = menu_of(&flow, self.node) else {
            return Next::End(Ending::error(CallError::BadNode(self.node.0)));
        };
        match input {
            Input::PlaybackFinished(id) => {
                prompt_ended(cx, &mut self.phase, id, &menu.reading);
                Next::Stay(State::Choosing(self))
            }
            Input::DigitReceived(digit) => {
                key_arrived(cx, &mut self.phase);
                self.keys.push(digit.as_char());
                let exact = menu.options.iter().find(|(keys, _)| *keys == self.keys);
                let longer = menu
                    .options
                    .iter()
                    .any(|(keys, _)| keys.len() > self.keys.len() && keys.starts_with(&self.keys));
                match (exact, longer) {
                    (Some((_, target)), false) => self.choose(cx, *target),
                    (_, true) => {
                        cx.set_timer(Timer::InterDigit, menu.reading.inter_digit_timeout);
                        Next::Stay(State::Choosing(self))
                    }
                    (None, false) => self.fail(cx, menu, FailureKind::Invalid),
                }
            }
            other => ignore(cx, &other, State::Choosing(self)),
        }
    }

    fn on_timer(self, cx: &mut Ctx, timer: Timer) -> Next {
        let flow = Arc::clone(&cx.flow);
        let Some(menu) = menu_of(&flow, self.node) else {
            return Next::End(Ending::error(CallError::BadNode(self.node.0)));
        };
        if self.phase != Phase::Keys {
            return Next::Stay(State::Choosing(self));
        }
        match timer {
            Timer::NoInput if self.keys.is_empty() => self.fail(cx, menu, FailureKind::NoInput),
            Timer::InterDigit if !self.keys.is_empty() => {
                match menu.options.iter().find(|(keys, _)| *keys == self.keys) {
                    Some((_, target)) => self.choose(cx, *target),
                    None => self.fail(cx, menu, FailureKind::Invalid),
                }
            }
            _ => Next::Stay(State::Choosing(self)),
        }
    }

    fn choose(self, cx: &mut Ctx, target: NodeIndex) -> Next {
        cx.emit(CallEvent::OptionChosen {
            node: cx.node_id(),
            option: self.keys,
        });
        Next::Goto(target)
    }

    fn fail(mut self, cx: &mut Ctx, menu: &Menu, kind: FailureKind) -> Next {
        self.keys.clear();
        cx.timers.stop(Timer::NoInput);
        cx.timers.stop(Timer::InterDigit);
        let count = self.tries.record(cx, kind);
        cx.emit(CallEvent::MenuFailure {
            node: cx.node_id(),
            kind,
            count,
            consecutive: self.tries.consecutive,
        });
        if self.tries.exhausted(&menu.reading) {
            return Next::Goto(match kind {
                FailureKind::Invalid => menu.invalid_exhausted,
                FailureKind::NoInput => menu.timeout_exhausted,
            });
        }
        let prompts = after_failure(&menu.reading, kind, &menu.repeat_prompt);
        self.phase = listen(cx, &prompts, &menu.reading);
        Next::Stay(State::Choosing(self))
    }
}

impl Collecting {
    fn on_input(mut self, cx: &mut Ctx, input: Input) -> Next {
        let flow = Arc::clone(&cx.flow);
        let Some(collect) = collect_of(&flow, self.node) else {
            return Next::End(Ending::error(CallError::BadNode(self.node.0)));
        };
        match input {
            Input::PlaybackFinished(id) => {
                prompt_ended(cx, &mut self.phase, id, &collect.reading);
                Next::Stay(State::Collecting(self))
            }
            Input::DigitReceived(digit) => {
                key_arrived(cx, &mut self.phase);
                if Some(digit) == collect.cancel
                    && let Some(cancelled) = collect.cancelled
                {
                    return Next::Goto(cancelled);
                }
                if Some(digit) == collect.terminator {
                    return if self.keys.0.is_empty() || self.keys.0.len() < collect.min_length {
                        self.fail(cx, collect, FailureKind::Invalid)
                    } else {
                        self.complete(cx, collect)
                    };
                }
                self.keys.0.push(digit.as_char());
                if self.keys.0.len() >= collect.max_length {
                    self.complete(cx, collect)
                } else {
                    cx.set_timer(Timer::InterDigit, collect.reading.inter_digit_timeout);
                    Next::Stay(State::Collecting(self))
                }
            }
            other => ignore(cx, &other, State::Collecting(self)),
        }
    }

    fn on_timer(self, cx: &mut Ctx, timer: Timer) -> Next {
        let flow = Arc::clone(&cx.flow);
        let Some(collect) = collect_of(&flow, self.node) else {
            return Next::End(Ending::error(CallError::BadNode(self.node.0)));
        };
        if self.phase != Phase::Keys {
            return Next::Stay(State::Collecting(self));
        }
        match timer {
            Timer::NoInput if self.keys.0.is_empty() => {
                self.fail(cx, collect, FailureKind::NoInput)
            }
            Timer::InterDigit if !self.keys.0.is_empty() => {
                if self.keys.0.len() >= collect.min_length {
                    self.complete(cx, collect)
                } else {
                    self.fail(cx, collect, FailureKind::Invalid)
                }
            }
            _ => Next::Stay(State::Collecting(self)),
        }
    }

    /// The entry is complete: validate, then confirm or store.
    fn complete(self, cx: &mut Ctx, collect: &Collect) -> Next {
        cx.timers.stop(Timer::InterDigit);
        if !collect.validate.iter().all(|v| passes(v, &self.keys.0)) {
            return self.fail(cx, collect, FailureKind::Invalid);
        }
        match &collect.confirm {
            Some(confirm) if !collect.secure => {
                let prompts: Prompts = confirm
                    .prefix
                    .iter()
                    .cloned()
                    .chain([Utterance::Digits(self.keys.0.clone())])
                    .chain(confirm.question.iter().cloned())
                    .collect();
                let phase = listen(cx, &prompts, &collect.reading);
                Next::Stay(State::Confirming(Confirming {
                    node: self.node,
                    tries: self.tries,
                    phase,
                    value: Secret(self.keys.0),
                }))
            }
            _ => store(cx, collect, self.keys.0),
        }
    }

    fn fail(mut self, cx: &mut Ctx, collect: &Collect, kind: FailureKind) -> Next {
        self.keys.0.clear();
        match collect_failure(cx, collect, &mut self.tries, kind) {
            Some(next) => next,
            None => {
                let prompts = after_failure(&collect.reading, kind, &collect.prompt);
                self.phase = listen(cx, &prompts, &collect.reading);
                Next::Stay(State::Collecting(self))
            }
        }
    }
}

/// Counts a collect failure; `Some` when the attempts are exhausted.
fn collect_failure(
    cx: &mut Ctx,
    collect: &Collect,
    tries: &mut Tries,
    kind: FailureKind,
) -> Option<Next> {
    cx.timers.stop(Timer::NoInput);
    cx.timers.stop(Timer::InterDigit);
    let count = tries.record(cx, kind);
    cx.emit(CallEvent::CollectFailure {
        node: cx.node_id(),
        kind,
        count,
        consecutive: tries.consecutive,
    });
    tries
        .exhausted(&collect.reading)
        .then_some(Next::Goto(match kind {
            FailureKind::Invalid => collect.invalid_exhausted,
            FailureKind::NoInput => collect.timeout_exhausted,
        }))
}

/// Stores a collected value and leaves by `ok`.
fn store(cx: &mut Ctx, collect: &Collect, value: String) -> Next {
    cx.emit(CallEvent::ValueCollected {
        var: collect.var.clone(),
        value: (!collect.secure).then(|| value.clone()),
    });
    cx.set_var(&collect.var, Value::Str(value), collect.secure);
    Next::Goto(collect.ok)
}

/// Whether `value` passes one validation.
pub(super) fn passes(validation: &Validation, value: &str) -> bool {
    match validation {
        // The compiler anchors patterns; a match must still span the whole value.
        Validation::Pattern(re) => re
            .find(value)
            .is_some_and(|m| m.start() == 0 && m.end() == value.len()),
        Validation::Luhn => luhn(value),
        Validation::Range { min, max } => value
            .parse::<u64>()
            .is_ok_and(|n| (*min..=*max).contains(&n)),
    }
}

/// The Luhn (ISO/IEC 7812-1 annex B) check digit test: digits only, at least two.
pub(super) fn luhn(value: &str) -> bool {
    if value.len() < 2 {
        return false;
    }
    let mut sum = 0u32;
    for (i, c) in value.chars().rev().enumerate() {
        let Some(d) = c.to_digit(10) else {
            return false;
        };
        sum += if i % 2 == 1 {
            let doubled = d * 2;
            if doubled > 9 { doubled - 9 } else { doubled }
        } else {
            d
        };
    }
    sum.is_multiple_of(10)
}

impl Confirming {
    fn on_input(mut self, cx: &mut Ctx, input: Input) -> Next {
        let flow = Arc::clone(&cx.flow);
        let Some(collect) = collect_of(&flow, self.node) else {
            return Next::End(Ending::error(CallError::BadNode(self.node.0)));
        };
        let Some(confirm) = &collect.confirm else {
            return store(cx, collect, self.value.0);
        };
        match input {
            Input::PlaybackFinished(id) => {
                prompt_ended(cx, &mut self.phase, id, &collect.reading);
                Next::Stay(State::Confirming(self))
            }
            Input::DigitReceived(digit) => {
                key_arrived(cx, &mut self.phase);
                if digit == confirm.yes {
                    store(cx, collect, self.value.0)
                } else if digit == confirm.no {
                    let phase = listen(cx, &collect.prompt, &collect.reading);
                    Next::Stay(State::Collecting(Collecting {
                        node: self.node,
                        tries: self.tries,
                        phase,
                        keys: DigitBuffer::default(),
                    }))
                } else {
                    self.fail(cx, FailureKind::Invalid)
                }
            }
            other => ignore(cx, &other, State::Confirming(self)),
        }
    }

    fn fail(mut self, cx: &mut Ctx, kind: FailureKind) -> Next {
        let flow = Arc::clone(&cx.flow);
        let Some(collect) = collect_of(&flow, self.node) else {
            return Next::End(Ending::error(CallError::BadNode(self.node.0)));
        };
        if self.phase != Phase::Keys {
            return Next::Stay(State::Confirming(self));
        }
        if let Some(next) = collect_failure(cx, collect, &mut self.tries, kind) {
            return next;
        }
        let question = collect
            .confirm
            .as_ref()
            .map(|c| c.question.clone())
            .unwrap_or_default();
        let prompts = after_failure(&collect.reading, kind, &question);
        self.phase = listen(cx, &prompts, &collect.reading);
        Next::Stay(State::Confirming(self))
    }
}

impl Queued {
    fn enter(cx: &mut Ctx, node: NodeIndex, enqueue: &Enqueue) -> Result<State, Ending> {
        let Some(queue) = cx.set.queues.get(&enqueue.queue).cloned() else {
            return Err(Ending::error(CallError::UnknownQueue(
                enqueue.queue.clone(),
            )));
        };
        let prompt =
            (!enqueue.prompt.is_empty()).then(|| cx.play(enqueue.prompt.clone(), false, false));
        cx.actions.push_back(super::Action::Enqueue {
            queue: enqueue.queue.clone(),
            priority: enqueue.priority.clone(),
            skills: enqueue.skills.clone(),
            context: cx.queue_context(),
        });
        let hearing = match prompt {
            Some(playback) => Hearing::Prompt(playback),
            None => Hearing::Music(play_music(cx, &queue)),
        };
        let announce = &queue.announce;
        if announce.position || announce.wait_time || !announce.messages.is_empty() {
            cx.set_timer(Timer::Announcement, announce.first_after);
        }
        Ok(State::Queued(Queued {
            node,
            queue,
            hearing,
            status: None,
            announced: None,
            callback_requested: false,
        }))
    }

    fn queue_id(&self) -> QueueId {
        self.queue.id.clone()
    }

    pub(super) fn leave(&self, cx: &mut Ctx, reason: LeaveReason) {
        if !self.callback_requested {
            cx.actions.push_back(super::Action::LeaveQueue {
                queue: self.queue_id(),
                reason,
            });
        }
    }

    fn on_input(mut self, cx: &mut Ctx, input: Input) -> Next {
        let flow = Arc::clone(&cx.flow);
        let Some(enqueue) = enqueue_of(&flow, self.node) else {
            return Next::End(Ending::error(CallError::BadNode(self.node.0)));
        };
        match input {
            Input::PlaybackFinished(_) => {
                // The join prompt or an announcement ended (or the music stopped by itself):
                // back to music.
                self.hearing = Hearing::Music(play_music(cx, &self.queue));
                Next::Stay(State::Queued(self))
            }
            Input::DigitReceived(digit) => {
                if Some(digit) == enqueue.exit_key
                    && let Some(exit) = enqueue.exit
                {
                    cx.stop_playback();
                    self.leave(cx, LeaveReason::Exited);
                    return Next::Goto(exit);
                }
                if Some(digit) == enqueue.callback_key
                    && enqueue.callback_registered.is_some()
                    && !self.callback_requested
                {
                    self.callback_requested = true;
                    cx.actions.push_back(super::Action::RequestCallback {
                        queue: self.queue_id(),
                    });
                    return Next::Stay(State::Queued(self));
                }
                ignore(cx, &input, State::Queued(self))
            }
            Input::QueueStatus {
                position,
                estimated_wait,
            } => {
                self.status = Some((position, estimated_wait));
                Next::Stay(State::Queued(self))
            }
            Input::AgentAssigned { agent } => {
                cx.stop_playback();
                cx.timers.stop(Timer::Announcement);
                cx.emit(CallEvent::AgentAssigned { agent });
                Next::Stay(State::Bridged(Bridged { node: self.node }))
            }
            Input::QueueTimedOut => Next::Goto(enqueue.timeout),
            Input::QueueNoAgents => Next::Goto(enqueue.no_agents),
            Input::QueueFull => Next::Goto(enqueue.full),
            Input::CallbackRegistered if self.callback_requested => {
                match enqueue.callback_registered {
                    Some(target) => Next::Goto(target),
                    None => ignore(cx, &input, State::Queued(self)),
                }
            }
            other => ignore(cx, &other, State::Queued(self)),
        }
    }

    /// The announcement timer fired: say position and wait (when the queue has told us
    /// them) and the queue's messages, between music; then re-arm.
    fn announce(mut self, cx: &mut Ctx) -> Next {
        let config = &self.queue.announce;
        if !config.every.is_zero() {
            cx.set_timer(Timer::Announcement, config.every);
        }
        if !matches!(self.hearing, Hearing::Music(_)) {
            // The join prompt or the last announcement still plays: skip this turn.
            return Next::Stay(State::Queued(self));
        }
        let mut utterances = Vec::new();
        if let Some((position, wait)) = self.status {
            if config.position {
                let position = self.announced.map_or(position, |last| last.min(position));
                self.announced = Some(position);
                utterances.push(prompt(QUEUE_POSITION_PROMPT));
                utterances.push(Utterance::Number(u64::from(position)));
            }
            if config.wait_time {
                match wait {
                    Some(wait) => {
                        let minutes = wait.as_secs().div_ceil(60).max(1);
                        utterances.push(prompt(QUEUE_WAIT_MINUTES_PROMPT));
                        utterances.push(Utterance::Number(minutes));
                        utterances.push(prompt(MINUTES_PROMPT));
                    }
                    None => utterances.push(prompt(QUEUE_WAIT_UNKNOWN_PROMPT)),
                }
            }
        }
        utterances.extend(config.messages.iter().cloned());
        if !utterances.is_empty() {
            self.hearing = Hearing::Announcement(cx.play(utterances, false, false));
        }
        Next::Stay(State::Queued(self))
    }
}

fn prompt(id: &str) -> Utterance {
    Utterance::Prompt(PromptId::new(id))
}

fn play_music(cx: &mut Ctx, queue: &QueueConfig) -> PlaybackId {
    cx.play(
        vec![Utterance::Prompt(queue.hold_music.clone())],
        false,
        true,
    )
}

impl Bridged {
    fn on_input(self, cx: &mut Ctx, input: Input) -> Next {
        let flow = Arc::clone(&cx.flow);
        let Some(enqueue) = enqueue_of(&flow, self.node) else {
            return Next::End(Ending::error(CallError::BadNode(self.node.0)));
        };
        match input {
            Input::AgentCallEnded => match enqueue.answered {
                Some(target) => Next::Goto(target),
                None => Next::End(Ending {
                    reason: EndReason::Answered,
                    by: Party::Remote,
                    hang_up: true,
                }),
            },
            other => ignore(cx, &other, State::Bridged(self)),
        }
    }
}

impl Transferring {
    fn on_input(self, cx: &mut Ctx, input: Input) -> Next {
        let flow = Arc::clone(&cx.flow);
        let Some(NodeKind::Transfer(transfer)) = flow.nodes.get(self.node.0).map(|n| &n.kind)
        else {
            return Next::End(Ending::error(CallError::BadNode(self.node.0)));
        };
        match input {
            Input::TransferConnected => match transfer.connected {
                Some(target) => Next::Goto(target),
                None => Next::End(Ending {
                    reason: EndReason::Transferred,
                    by: Party::Remote,
                    hang_up: false,
                }),
            },
            Input::TransferFailed { reason } => {
                cx.emit(CallEvent::TransferFailed { reason });
                Next::Goto(transfer.failed)
            }
            other => ignore(cx, &other, State::Transferring(self)),
        }
    }
}

impl HangingUp {
    fn on_input(self, cx: &mut Ctx, input: Input) -> Next {
        match input {
            Input::PlaybackFinished(id) if id == self.playback => Next::End(Ending {
                reason: EndReason::Flow(self.reason),
                by: Party::Engine,
                hang_up: true,
            }),
            Input::DigitReceived(_) => {
                cx.drop_input(DropReason::KeyDuringPrompt);
                Next::Stay(State::HangingUp(self))
            }
            other => ignore(cx, &other, State::HangingUp(self)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_valid_card_numbers_only() {
        assert!(luhn("4111111111111111"));
        assert!(luhn("79927398713"));
        assert!(!luhn("79927398710"));
        assert!(!luhn("4111a11111111111"));
        assert!(!luhn("0"));
    }

    #[test]
    fn pattern_must_cover_the_whole_value() {
        let re = regex::Regex::new("[0-9]{3}").unwrap();
        assert!(passes(&Validation::Pattern(re.clone()), "123"));
        assert!(!passes(&Validation::Pattern(re), "1234"));
    }

    #[test]
    fn range_reads_the_value_as_an_integer() {
        let v = Validation::Range { min: 1, max: 31 };
        assert!(passes(&v, "07"));
        assert!(!passes(&v, "32"));
        assert!(!passes(&v, "99999999999999999999999"));
    }
}
