//! One simulated call of the load generator: connects, then on each tick of the shared
//! scheduler sends its due frames (silence or a key's pre-built frames), plays one frame of
//! its playout buffer and echoes marks whose audio has played, and advances its script. Engine
//! messages are handled as they arrive. It must not keep a timer of its own or allocate per
//! frame; figures go into the run's shared totals.

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
    pub index: usize,
    pub url: String,
    pub addr: String,
    pub number: String,
    pub script: Rc<Vec<Step>>,
    pub dtmf: DtmfMode,
    pub templates: Rc<Templates>,
    pub connect_at: Instant,
    pub late_threshold: Duration,
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

/// Small buffers: the generator shares the cores and the memory with the engine.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(1 << 20))
        .max_frame_size(Some(1 << 20))
}

/// Runs one call to its end.
pub(super) async fn run(setup: LineSetup, ctl: Rc<Ctl>) {
    tokio::time::sleep_until(setup.connect_at).await;
    if ctl.stopping.get() {
        return;
    }
    let ws = match connect(&setup).await {
        Ok(ws) => ws,
        Err(()) => {
            ctl.totals.borrow_mut().connect_failures += 1;
            return;
        }
    };
    let notify = Rc::new(Notify::new());
    let slot = setup.index % super::SLOTS;
    ctl.slots.borrow_mut()[slot].push(Rc::clone(&notify));
    ctl.active.set(ctl.active.get() + 1);
    ctl.totals.borrow_mut().connected += 1;
    let mut line = Line {
        ws,
        tpl: Rc::clone(&setup.templates),
        script: Rc::clone(&setup.script),
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
    let call_sid = format!("CA{:08x}{:024x}", std::process::id(), setup.index);
    let ended = line
        .drive(
            &ctl,
            &notify,
            slot,
            &call_sid,
            &setup.number,
            setup.late_threshold,
        )
        .await;
    ctl.active.set(ctl.active.get().saturating_sub(1));
    let mut t = ctl.totals.borrow_mut();
    match ended {
        Ended::ByUs => {}
        Ended::ByEngine => t.early_hangups += 1,
        Ended::Error => t.errors += 1,
    }
    if line.pending.is_some() {
        t.unanswered += 1;
    }
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
                let key_idx = p.key;
                if p.frame == PRESS_FRAMES {
                    self.press = None;
                }
                if tone_done {
                    self.send(Message::Text(frame)).await?;
                    if let Some(pending) = self.pending.as_mut() {
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
                    self.press = Some(Press { key, frame: 0 });
                    self.pending = Some(Pending {
                        // The tone's first frame goes out now and began 20 ms ago.
                        start: now.checked_sub(FRAME).unwrap_or(now),
                        end: None,
                        boundary: false,
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
        if !name.starts_with(crate::gateway::session::EVENT_MARK_PREFIX) {
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
                if let Some(rest) = name.strip_prefix(crate::gateway::session::EVENT_MARK_PREFIX) {
                    if rest.starts_with("enqueue:") {
                        ctl.totals.borrow_mut().queued += 1;
                    }
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
