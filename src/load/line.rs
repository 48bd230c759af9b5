//! One simulated caller of the load generator: connects, then on each tick of the shared
//! scheduler sends its due frames (silence or a key's pre-built frames), plays one frame of
//! its playout buffer and echoes marks whose audio has played, and advances its script. Engine
//! messages are handled as they arrive; the engine's event marks tell it when the call was
//! queued, handed on (transferred) or turned away by a closed line. With a redial delay it
//! dials again, counted in scheduler ticks, after a call that left normally. It must not keep
//! a timer of its own or allocate per frame; figures go into the run's shared totals.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::wire::{self, FromEngine, PRESS_FRAMES, TONE_FRAMES, Templates};
use super::{DtmfMode, Step, Totals};
use crate::gateway::session::EVENT_MARK_PREFIX;

/// One 20 ms frame.
pub(super) const FRAME: Duration = Duration::from_millis(20);

/// What every line shares with the scheduler and the driver (one thread: `Rc`/`Cell`).
pub(super) struct Ctl {
    /// Set when the run ends: each line hangs up on its next tick.
    pub stopping: Cell<bool>,
    /// Lines connected right now.
    pub active: Cell<usize>,
    /// When slot 0 of tick 0 fell due.
    pub base: Instant,
    /// The wake-up of each line, by slot.
    pub slots: RefCell<Vec<Vec<Rc<Notify>>>>,
    /// Figures.
    pub totals: RefCell<Totals>,
}

/// Per-line settings.
pub(super) struct LineSetup {
    /// The caller's index in the run (its slot and call id).
    pub index: usize,
    /// Which line it dials (index into the totals' lines).
    pub line: usize,
    pub url: String,
    pub addr: String,
    pub number: String,
    pub script: Rc<Vec<Step>>,
    pub closed_prompts: Rc<[String]>,
    pub dtmf: DtmfMode,
    pub templates: Rc<Templates>,
    pub connect_at: Instant,
    pub late_threshold: Duration,
    pub redial_after: Option<Duration>,
}

enum Entry {
    Audio(u32),
    Mark(Box<str>),
}

/// Waiting for the next prompt: until a boundary (mark or clear) and then audio.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Await {
    Off,
    Boundary,
    Audio,
}

struct Press {
    key: usize,
    frame: usize,
    /// A key that waits for an answer (not one inside an entry).
    measured: bool,
}

struct Pending {
    start: Instant,
    end: Option<Instant>,
    boundary: bool,
}

struct Line {
    ws: WebSocketStream<TcpStream>,
    tpl: Rc<Templates>,
    script: Rc<Vec<Step>>,
    closed_prompts: Rc<[String]>,
    /// The line's index in the totals.
    line: usize,
    /// When the engine said it queued the call.
    queued_at: Option<Instant>,
    /// The engine handed the call on.
    transferred: bool,
    /// A closed-line prompt started.
    closed: bool,
    /// A queue turned the caller away (no agents, queue full): the engine's `ev:refused:` mark.
    turned_away: bool,
    dtmf: DtmfMode,
    pos: usize,
    wait_frames: u32,
    next: Await,
    press: Option<Press>,
    pending: Option<Pending>,
    buffer: VecDeque<Entry>,
    partial: usize,
    in_prompt: bool,
    in_gap: bool,
    hung_up: bool,
}

enum Ended {
    /// We hung up (end of run or script).
    ByUs,
    /// The engine closed the stream first.
    ByEngine,
    /// A socket error.
    Error,
}

/// How one call left, as counted.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The run ended, or the script hung up.
    HungUp,
    /// The engine handed the call on.
    Transferred,
    /// The engine ended a queued call without handing it on.
    Refused,
    /// The engine ended the call after a closed-line prompt.
    Closed,
    /// The engine ended the call otherwise.
    EarlyHangup,
    /// A socket error.
    Error,
}

/// Small buffers: the generator shares the cores and the memory with the engine.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(1 << 20))
        .max_frame_size(Some(1 << 20))
}

/// Runs one caller to the run's end: its call, and with a redial delay the calls after it.
pub(super) async fn run(setup: LineSetup, ctl: Rc<Ctl>) {
    tokio::time::sleep_until(setup.connect_at).await;
    let notify = Rc::new(Notify::new());
    let slot = setup.index % super::SLOTS;
    let mut registered = false;
    let mut generation: u32 = 0;
    loop {
        if ctl.stopping.get() {
            return;
        }
        ctl.totals.borrow_mut().lines[setup.line].dialled += 1;
        let ws = match connect(&setup).await {
            Ok(ws) => ws,
            Err(()) => {
                ctl.totals.borrow_mut().connect_failures += 1;
                return;
            }
        };
        if !registered {
            ctl.slots.borrow_mut()[slot].push(Rc::clone(&notify));
            ctl.totals.borrow_mut().connected += 1;
            registered = true;
        }
        ctl.active.set(ctl.active.get() + 1);
        let outcome = call(&setup, &ctl, ws, &notify, slot, generation).await;
        ctl.active.set(ctl.active.get().saturating_sub(1));
        let Some(after) = setup.redial_after else {
            return;
        };
        if ctl.stopping.get() || matches!(outcome, Outcome::EarlyHangup | Outcome::Error) {
            return;
        }
        // Wait on the scheduler's ticks rather than a timer of our own.
        let mut ticks = after.as_millis().div_ceil(FRAME.as_millis());
        while ticks > 0 {
            notify.notified().await;
            if ctl.stopping.get() {
                return;
            }
            ticks -= 1;
        }
        generation = generation.wrapping_add(1);
        ctl.totals.borrow_mut().lines[setup.line].redials += 1;
    }
}

/// One call over `ws`, to its end; counts how it left.
async fn call(
    setup: &LineSetup,
    ctl: &Ctl,
    ws: WebSocketStream<TcpStream>,
    notify: &Notify,
    slot: usize,
    generation: u32,
) -> Outcome {
    let mut line = Line {
        ws,
        tpl: Rc::clone(&setup.templates),
        script: Rc::clone(&setup.script),
        closed_prompts: Rc::clone(&setup.closed_prompts),
        line: setup.line,
        queued_at: None,
        transferred: false,
        closed: false,
        turned_away: false,
        dtmf: setup.dtmf,
        pos: 0,
        wait_frames: 0,
        next: Await::Off,
        press: None,
        pending: None,
        buffer: VecDeque::with_capacity(16),
        partial: 0,
        in_prompt: false,
        in_gap: false,
        hung_up: false,
    };
    // The first call of caller 7 is `CA<pid>` then 7 in 24 hex digits; its redials count up
    // in the top 8 of them.
    let call_sid = format!(
        "CA{:08x}{generation:08x}{:016x}",
        std::process::id(),
        setup.index
    );
    let ended = line
        .drive(
            ctl,
            notify,
            slot,
            &call_sid,
            &setup.number,
            setup.late_threshold,
        )
        .await;
    let outcome = match ended {
        Ended::ByUs => Outcome::HungUp,
        Ended::Error => Outcome::Error,
        Ended::ByEngine if line.transferred => Outcome::Transferred,
        Ended::ByEngine if line.closed => Outcome::Closed,
        Ended::ByEngine if line.turned_away || line.queued_at.is_some() => Outcome::Refused,
        Ended::ByEngine => Outcome::EarlyHangup,
    };
    let mut guard = ctl.totals.borrow_mut();
    let t = &mut *guard;
    let l = &mut t.lines[setup.line];
    match outcome {
        // Closed calls were counted when the closed-line prompt started.
        Outcome::HungUp | Outcome::Transferred | Outcome::Closed => {}
        // Callers turned away at the door were counted when the engine said so.
        Outcome::Refused if line.turned_away => {}
        Outcome::Refused => l.refused += 1,
        Outcome::EarlyHangup => {
            l.early_hangups += 1;
            t.early_hangups += 1;
        }
        Outcome::Error => {
            l.errors += 1;
            t.errors += 1;
        }
    }
    if line.pending.is_some() {
        t.unanswered += 1;
    }
    outcome
}

async fn connect(setup: &LineSetup) -> Result<WebSocketStream<TcpStream>, ()> {
    let work = async {
        let stream = TcpStream::connect(&setup.addr).await.map_err(|_| ())?;
        stream.set_nodelay(true).map_err(|_| ())?;
        let (ws, _) = tokio_tungstenite::client_async_with_config(
            setup.url.as_str(),
            stream,
            Some(ws_config()),
        )
        .await
        .map_err(|_| ())?;
        Ok(ws)
    };
    tokio::time::timeout(Duration::from_secs(10), work)
        .await
        .map_err(|_| ())?
}

impl Line {
    async fn send(&mut self, msg: Message) -> Result<(), Ended> {
        self.ws.send(msg).await.map_err(|_| Ended::Error)
    }

    async fn drive(
        &mut self,
        ctl: &Ctl,
        notify: &Notify,
        slot: usize,
        call_sid: &str,
        number: &str,
        late_threshold: Duration,
    ) -> Ended {
        let hello = async {
            self.send(Message::Text(self.tpl.connected.clone())).await?;
            let start = wire::start_message(call_sid, number, "+10000000000");
            self.send(Message::text(start)).await
        };
        if let Err(e) = hello.await {
            return e;
        }
        // The first due tick of this line's slot after now.
        let now = Instant::now();
        let first = ctl.base + Duration::from_millis(slot as u64);
        let mut due = if now <= first {
            first
        } else {
            let periods = (now - first).as_nanos() / FRAME.as_nanos() + 1;
            first + FRAME * u32::try_from(periods).unwrap_or(u32::MAX)
        };
        loop {
            tokio::select! {
                biased;
                () = notify.notified() => {
                    if ctl.stopping.get() {
                        let stop = wire::stop_message(call_sid);
                        let _ = self.send(Message::text(stop)).await;
                        let _ = tokio::time::timeout(Duration::from_millis(200), self.ws.close(None)).await;
                        return Ended::ByUs;
                    }
                    let now = Instant::now();
                    while due <= now {
                        let late = now - due;
                        {
                            let mut t = ctl.totals.borrow_mut();
                            t.frames += 1;
                            t.late.record(late);
                            if late > late_threshold {
                                t.late_frames += 1;
                            }
                        }
                        if let Err(e) = self.tick(ctl, now, call_sid).await {
                            return e;
                        }
                        if self.hung_up {
                            return Ended::ByUs;
                        }
                        due += FRAME;
                    }
                }
                msg = self.ws.next() => {
                    let now = Instant::now();
                    match msg {
                        Some(Ok(Message::Text(t))) => {
                            if let Err(e) = self.heard(ctl, now, t.as_str()).await {
                                return e;
                            }
                        }
                        Some(Ok(Message::Close(_))) | None => return Ended::ByEngine,
                        Some(Ok(_)) => {}
                        Some(Err(_)) => return Ended::Error,
                    }
                }
            }
        }
    }

    /// One frame: script, the frame sent, one frame played.
    async fn tick(&mut self, ctl: &Ctl, now: Instant, call_sid: &str) -> Result<(), Ended> {
        if self.press.is_none() {
            self.advance_script(ctl, now, call_sid).await?;
            if self.hung_up {
                return Ok(());
            }
        }
        let msg = match self.press.as_mut() {
            Some(p) => {
                let key = &self.tpl.keys[p.key];
                let frame = key.frames[p.frame].clone();
                p.frame += 1;
                let tone_done = p.frame == TONE_FRAMES;
                let measured = p.measured;
                let key_idx = p.key;
                if p.frame == PRESS_FRAMES {
                    self.press = None;
                }
                if tone_done {
                    self.send(Message::Text(frame)).await?;
                    if measured && let Some(pending) = self.pending.as_mut() {
                        pending.end = Some(now);
                    }
                    if self.dtmf != DtmfMode::InBand {
                        let ev = self.tpl.keys[key_idx].event.clone();
                        self.send(Message::Text(ev)).await?;
                    }
                    None
                } else {
                    Some(frame)
                }
            }
            None => Some(self.tpl.silence.clone()),
        };
        if let Some(m) = msg {
            self.send(Message::Text(m)).await?;
        }
        self.play_one(ctl).await
    }

    async fn advance_script(
        &mut self,
        ctl: &Ctl,
        now: Instant,
        call_sid: &str,
    ) -> Result<(), Ended> {
        if self.wait_frames > 0 {
            self.wait_frames -= 1;
            return Ok(());
        }
        if self.next != Await::Off {
            return Ok(());
        }
        let script = Rc::clone(&self.script);
        let Some(step) = script.get(self.pos) else {
            return Ok(());
        };
        self.pos += 1;
        match step {
            Step::Key(d) => {
                if let Some(key) = self.tpl.key_index(*d) {
                    let mut t = ctl.totals.borrow_mut();
                    t.presses += 1;
                    if self.pending.take().is_some() {
                        t.unanswered += 1;
                    }
                    self.press = Some(Press {
                        key,
                        frame: 0,
                        measured: true,
                    });
                    self.pending = Some(Pending {
                        // The tone's first frame goes out now and began 20 ms ago.
                        start: now.checked_sub(FRAME).unwrap_or(now),
                        end: None,
                        boundary: false,
                    });
                }
            }
            Step::EntryKey(d) => {
                if let Some(key) = self.tpl.key_index(*d) {
                    ctl.totals.borrow_mut().entry_keys += 1;
                    self.press = Some(Press {
                        key,
                        frame: 0,
                        measured: false,
                    });
                }
            }
            Step::Wait(d) => {
                self.wait_frames =
                    u32::try_from(d.as_millis() / FRAME.as_millis()).unwrap_or(u32::MAX);
            }
            Step::NextPrompt => self.next = Await::Boundary,
            Step::Hangup => {
                let stop = wire::stop_message(call_sid);
                let _ = self.send(Message::text(stop)).await;
                let _ = tokio::time::timeout(Duration::from_millis(200), self.ws.close(None)).await;
                self.hung_up = true;
            }
        }
        Ok(())
    }

    /// Plays one frame of the buffer; echoes marks that reach its front.
    async fn play_one(&mut self, ctl: &Ctl) -> Result<(), Ended> {
        let mut played = false;
        loop {
            match self.buffer.front_mut() {
                Some(Entry::Mark(_)) => {
                    if let Some(Entry::Mark(name)) = self.buffer.pop_front() {
                        self.in_prompt = false;
                        self.echo(ctl, &name).await?;
                    }
                }
                Some(Entry::Audio(n)) if !played => {
                    *n -= 1;
                    if *n == 0 {
                        self.buffer.pop_front();
                    }
                    played = true;
                    self.in_prompt = true;
                }
                _ => break,
            }
        }
        if played {
            self.in_gap = false;
        } else if self.in_prompt {
            let mut t = ctl.totals.borrow_mut();
            t.gap_frames += 1;
            if !self.in_gap {
                t.gaps += 1;
                self.in_gap = true;
            }
        }
        Ok(())
    }

    async fn echo(&mut self, ctl: &Ctl, name: &str) -> Result<(), Ended> {
        if !name.starts_with(EVENT_MARK_PREFIX) {
            ctl.totals.borrow_mut().prompts_heard += 1;
        }
        self.send(Message::text(wire::mark_echo(name))).await
    }

    fn boundary(&mut self) {
        if let Some(p) = self.pending.as_mut() {
            p.boundary = true;
        }
        if self.next == Await::Boundary {
            self.next = Await::Audio;
        }
    }

    /// One of the engine's event marks (`ev:` stripped): what it did with the call.
    fn event(&mut self, ctl: &Ctl, now: Instant, event: &str) {
        if event.starts_with("enqueue:") {
            let mut t = ctl.totals.borrow_mut();
            t.queued += 1;
            t.lines[self.line].queued += 1;
            self.queued_at = Some(now);
        } else if event.starts_with("refused:") {
            if !self.turned_away {
                // Counted now, like a closed line: the engine may hang up after the run ends.
                self.turned_away = true;
                ctl.totals.borrow_mut().lines[self.line].refused += 1;
            }
        } else if event.starts_with("transfer:") {
            if !self.transferred {
                self.transferred = true;
                let l = &mut ctl.totals.borrow_mut().lines[self.line];
                l.transferred += 1;
                if let Some(at) = self.queued_at {
                    l.waits.record(now.saturating_duration_since(at));
                }
            }
        } else if let Some(play) = event.strip_prefix("play:") {
            // A prompt starts: the answer to a key that led here without cutting a prompt
            // short (the `#` that ends an entry). `next` still waits for a prompt's end or a
            // clear.
            if let Some(p) = self.pending.as_mut() {
                p.boundary = true;
            }
            let label = play.rsplit_once(':').map_or(play, |(label, _)| label);
            if !self.closed
                && label
                    .split('+')
                    .any(|id| self.closed_prompts.iter().any(|c| c == id))
            {
                // The line is closed: listen to the end, press nothing more.
                self.closed = true;
                ctl.totals.borrow_mut().lines[self.line].closed += 1;
                self.pos = self.script.len();
                self.wait_frames = 0;
                self.next = Await::Off;
            }
        }
    }

    async fn heard(&mut self, ctl: &Ctl, now: Instant, text: &str) -> Result<(), Ended> {
        match wire::classify(text) {
            FromEngine::Media(bytes) => {
                if self.next == Await::Audio {
                    self.next = Await::Off;
                }
                if let Some(p) = self.pending.as_ref()
                    && p.boundary
                {
                    let mut t = ctl.totals.borrow_mut();
                    t.answered += 1;
                    t.key_from_start.record(now - p.start);
                    match p.end {
                        Some(end) => t.key_to_prompt.record(now.saturating_duration_since(end)),
                        None => {
                            t.answered_before_release += 1;
                            t.key_to_prompt.record(Duration::ZERO);
                        }
                    }
                    self.pending = None;
                }
                let total = self.partial + bytes;
                let frames = u32::try_from(total / wire::FRAME_SAMPLES).unwrap_or(u32::MAX);
                self.partial = total % wire::FRAME_SAMPLES;
                if frames > 0 {
                    match self.buffer.back_mut() {
                        Some(Entry::Audio(n)) => *n = n.saturating_add(frames),
                        _ => self.buffer.push_back(Entry::Audio(frames)),
                    }
                }
            }
            FromEngine::Mark(name) => {
                if let Some(rest) = name.strip_prefix(EVENT_MARK_PREFIX) {
                    self.event(ctl, now, rest);
                } else {
                    self.boundary();
                }
                if self.buffer.is_empty() {
                    let name = name.to_owned();
                    self.echo(ctl, &name).await?;
                } else {
                    self.buffer.push_back(Entry::Mark(name.into()));
                }
            }
            FromEngine::Clear => {
                self.partial = 0;
                self.in_prompt = false;
                self.in_gap = false;
                let drained: Vec<Entry> = self.buffer.drain(..).collect();
                for e in drained {
                    if let Entry::Mark(name) = e {
                        self.echo(ctl, &name).await?;
                    }
                }
                self.boundary();
            }
            FromEngine::Other => {}
        }
        Ok(())
    }
}
