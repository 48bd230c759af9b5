//! The load generator behind `ivr load`, and the bare baseline server it is compared with.
//!
//! N simulated Twilio calls run over loopback from one thread (a current-thread runtime): one
//! scheduler wakes every millisecond on the monotonic clock and nudges the calls whose slot is
//! due (calls are staggered over 20 slots, so each 20 ms frame period spreads the work); each
//! call sends its due frames from pre-built templates, plays Twilio's part in playout (one
//! buffered frame per tick, marks echoed when the audio before them has played, `clear`
//! empties the buffer and echoes pending marks) and presses keys from its script. Every frame's
//! lateness against its schedule is recorded; a run where too many frames went out late is
//! **void** — its figures say more about the generator than the engine.
//!
//! Calls are spread round-robin over one or more *lines* (a number and its script; the preset
//! [`HOTLINES`] drives the three shipped hotlines into their queues). Simulated agents
//! ([`crate::sim::agents`]) may serve the queues from the same runtime: a call an agent takes
//! leaves the engine by a transfer, is counted with its queue wait, and with `redial_after`
//! the line dials again so the number of calls stays up.
//!
//! It measures: key press → first frame of the next prompt (from the end of the tone), playout
//! gaps a caller would hear mid-prompt, errors and early hang-ups, calls queued, transferred,
//! refused and turned away by a closed line, queue waits, and — from `/proc` and the engine's
//! `/metrics` — engine CPU per call-second, RSS per call and inbound frame handling.
//! This is an ops tool; it must never be linked into the serving path.

pub mod baseline;
mod desk;
pub mod hist;
mod line;
pub mod procfs;
pub mod scrape;
pub mod wire;

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

pub use hist::{Hist, Waits};
use line::{Ctl, LineSetup};
pub use scrape::Buckets;

use crate::ids::Digit;
use crate::sim::agents::AgentsOptions;

/// Scheduler slots per frame period (1 ms each).
pub const SLOTS: usize = 20;

/// The engine's inbound frame histogram.
pub const FRAME_HISTOGRAM: &str = "ivr_frame_handling_seconds";

/// How keys are sent: the caller simulator's modes.
pub use crate::sim::DtmfMode;

/// One step of every call's script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Press a key: 80 ms tone, 80 ms gap; the next prompt's first frame answers it.
    Key(Digit),
    /// Press a key inside an entry (a merchant id): pressed like [`Step::Key`], but only the
    /// entry's last key waits for an answer.
    EntryKey(Digit),
    /// Stay silent this long.
    Wait(Duration),
    /// Wait until the next prompt starts (audio after a prompt's end mark or a clear).
    NextPrompt,
    /// Hang up.
    Hangup,
}

/// The default script: at the second prompt, press 1 a second in, and again a second into
/// each of the next two prompts (95017: language, main menu, security menu → emergency queue).
pub const DEFAULT_KEYS: &str = "next wait:1s 1 wait:1s 1 wait:1s 1";

/// Parses a script: keys (`1`), entries (`52300019#`: keys pressed back to back, of which
/// only the last is answered by a prompt), `wait:2s`, `next`, `hangup`.
pub fn parse_script(script: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    for word in script.split_whitespace() {
        if let Some(d) = word.strip_prefix("wait:") {
            steps.push(Step::Wait(crate::gateway::config::parse_duration(d)?));
        } else if word == "next" {
            steps.push(Step::NextPrompt);
        } else if word == "hangup" {
            steps.push(Step::Hangup);
        } else {
            let mut keys = word.chars().peekable();
            while let Some(c) = keys.next() {
                let digit = Digit::new(c).ok_or_else(|| {
                    format!("{c:?} in {word:?} is not a key (0-9 * # A-D, wait:2s, next, hangup)")
                })?;
                steps.push(if keys.peek().is_some() {
                    Step::EntryKey(digit)
                } else {
                    Step::Key(digit)
                });
            }
        }
    }
    Ok(steps)
}

/// One line the calls dial: a number and the script every call to it follows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineSpec {
    /// The number dialled.
    pub number: String,
    /// Every call's script.
    pub script: Vec<Step>,
    /// Prompt ids that tell a call the line is closed (its hours, a holiday notice): once one
    /// starts, the call stops its script and, when the engine hangs up, counts as `closed`
    /// rather than as an early hang-up.
    pub closed_prompts: Vec<String>,
}

impl LineSpec {
    /// `number` with `script`, no closed-line prompts.
    pub fn new(number: impl Into<String>, script: Vec<Step>) -> Self {
        Self {
            number: number.into(),
            script,
            closed_prompts: Vec::new(),
        }
    }
}

/// The three hotlines of the shipped flows: number, the fastest script into the line's queue,
/// and the prompts that mean the line is closed.
///
/// - 95017: welcome (no keys), `1` Mandarin, `1` security menu, `2` frozen funds → the
///   `emergency` class of queue `general` (no notice on the way, unlike fraud's).
/// - 0755-83765566: welcome, `1` Mandarin, merchant id `52300019#` (an individual merchant of
///   `table-merchants.yaml`), `1` API failure → `urgent` class of `merchant-general`. Opening
///   hours: calendar `merchant`.
/// - 400-670-0700: welcome, `1` Mandarin, `2` earnings dispute → `priority` class of `wealth`.
///   Opening hours: calendar `wealth` (weekdays).
///
/// Keys go half a second into each menu (the menus take keys at once; the welcomes take none,
/// hence `next`).
pub const HOTLINES: [(&str, &str, &[&str]); 3] = [
    ("95017", "next wait:500ms 1 wait:500ms 1 wait:500ms 2", &[]),
    (
        "075583765566",
        "next wait:500ms 1 wait:500ms 52300019# wait:500ms 1",
        &["merchant_hours", "merchant_holiday"],
    ),
    (
        "4006700700",
        "next wait:500ms 1 wait:500ms 2",
        &["wealth_hours"],
    ),
];

/// The lines of a preset by name (`hotlines`).
pub fn preset(name: &str) -> Option<Vec<LineSpec>> {
    match name {
        "hotlines" => Some(
            HOTLINES
                .iter()
                .map(|(number, script, closed)| LineSpec {
                    number: (*number).to_owned(),
                    script: parse_script(script).unwrap_or_default(),
                    closed_prompts: closed.iter().map(|p| (*p).to_owned()).collect(),
                })
                .collect(),
        ),
        _ => None,
    }
}

/// Parses `NUMBER[=SCRIPT]` (`--line`); without a script the line follows `default_script`.
pub fn parse_line(text: &str, default_script: &[Step]) -> Result<LineSpec, String> {
    let (number, script) = match text.split_once('=') {
        Some((n, s)) => (n.trim(), parse_script(s)?),
        None => (text.trim(), default_script.to_vec()),
    };
    if number.is_empty()
        || !number
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-'))
    {
        return Err(format!(
            "bad line {text:?}: want NUMBER[=SCRIPT], e.g. 95017=\"next wait:1s 1\""
        ));
    }
    Ok(LineSpec::new(number, script))
}

/// What to run.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// The WebSocket URL, e.g. `ws://127.0.0.1:8080/twilio`.
    pub url: String,
    /// Concurrent calls.
    pub calls: usize,
    /// The measured window, after every call has connected and `settle` has passed.
    pub duration: Duration,
    /// New calls per second while connecting.
    pub connect_rate: f64,
    /// Time between the last connect and the measured window.
    pub settle: Duration,
    /// The lines dialled, calls assigned round-robin (call `i` dials line `i % len`).
    pub lines: Vec<LineSpec>,
    /// Simulated agents serving the queues during the run (logged in before the first call,
    /// out after the last); `None`: no agents.
    pub agents: Option<AgentsOptions>,
    /// Dial again this long after a call left by a transfer, a queue refusal, a closed line
    /// or the script's hang-up; `None`: each call is dialled once.
    pub redial_after: Option<Duration>,
    /// How keys are sent.
    pub dtmf: DtmfMode,
    /// A frame sent later than this after its due time is late.
    pub late_threshold: Duration,
    /// The run is void when more than this share of frames is late.
    pub max_late_share: f64,
    /// The server's process (for CPU and RSS); `None`: found by the URL's port.
    pub server_pid: Option<u32>,
    /// The server's Prometheus `/metrics` URL, if it has one.
    pub metrics_url: Option<String>,
}

impl LoadOptions {
    /// Defaults for `calls` calls against `url`: 60 s window, 100 connects/s, 2 s settle,
    /// one line (95017, the default script), no agents, no redial, in-band keys, late beyond
    /// 20 ms, void above 0.1 % late.
    pub fn new(url: impl Into<String>, calls: usize) -> Self {
        Self {
            url: url.into(),
            calls,
            duration: Duration::from_secs(60),
            connect_rate: 100.0,
            settle: Duration::from_secs(2),
            lines: vec![LineSpec::new(
                "95017",
                parse_script(DEFAULT_KEYS).unwrap_or_default(),
            )],
            agents: None,
            redial_after: None,
            dtmf: DtmfMode::InBand,
            late_threshold: Duration::from_millis(20),
            max_late_share: 0.001,
            server_pid: None,
            metrics_url: None,
        }
    }
}

/// Why a run could not happen.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The URL is not `ws://host:port/path`.
    #[error("bad URL {0:?} (want ws://host:port/path)")]
    BadUrl(String),
    /// The runtime could not start.
    #[error("cannot start the runtime: {0}")]
    Runtime(#[from] std::io::Error),
    /// No line to dial.
    #[error("no line to dial")]
    NoLines,
    /// The simulated agents could not log in.
    #[error("simulated agents: {0}")]
    Agents(String),
}

/// Raw counts from the calls (shared on one thread).
#[derive(Debug, Default)]
pub(crate) struct Totals {
    pub connected: usize,
    pub connect_failures: u64,
    pub frames: u64,
    pub late_frames: u64,
    pub late: Hist,
    pub presses: u64,
    pub answered: u64,
    pub unanswered: u64,
    pub answered_before_release: u64,
    pub key_to_prompt: Hist,
    pub key_from_start: Hist,
    pub gaps: u64,
    pub gap_frames: u64,
    pub errors: u64,
    pub early_hangups: u64,
    pub queued: u64,
    pub prompts_heard: u64,
    pub entry_keys: u64,
    pub lines: Vec<LineTotals>,
}

/// Raw counts of one line.
#[derive(Debug, Default)]
pub(crate) struct LineTotals {
    pub dialled: u64,
    pub redials: u64,
    pub queued: u64,
    pub transferred: u64,
    pub refused: u64,
    pub closed: u64,
    pub early_hangups: u64,
    pub errors: u64,
    pub waits: Waits,
}

/// What happened on one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineFigures {
    /// The number dialled.
    pub number: String,
    /// Calls dialled (first calls and redials).
    pub dialled: u64,
    /// Of which redials.
    pub redials: u64,
    /// Calls the engine said it queued.
    pub queued: u64,
    /// Calls the engine handed on (to an agent, or a transfer node's target).
    pub transferred: u64,
    /// Calls a queue would not serve: turned away at the door (no agents logged in, queue
    /// full: the engine's `ev:refused:` mark), or queued and ended without a transfer (waited
    /// past its limit).
    pub refused: u64,
    /// Calls the engine turned away because the line was closed: one of the line's
    /// closed-line prompts started (whether or not the engine hung up before the run ended).
    pub closed: u64,
    /// Other calls the engine closed before the run ended.
    pub early_hangups: u64,
    /// Socket errors.
    pub errors: u64,
    /// From the engine's enqueue notice to its transfer notice, per transferred call.
    pub queue_waits: Waits,
}

/// What the simulated agents did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentFigures {
    /// Agents logged in.
    pub count: usize,
    /// Offers they accepted.
    pub took: u64,
    /// Why they stopped early, if they did.
    pub error: Option<String>,
}

/// Server-side figures over the measured window.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerFigures {
    /// The process measured.
    pub pid: u32,
    /// CPU milliseconds per call-second.
    pub cpu_ms_per_call_second: f64,
    /// Resident memory before any call.
    pub rss_idle: u64,
    /// Resident memory at the end of the window.
    pub rss_loaded: u64,
    /// `(loaded − idle) ÷ calls`, bytes.
    pub rss_per_call: f64,
}

/// The result of one run.
#[derive(Clone, Debug)]
pub struct Report {
    /// The URL driven.
    pub url: String,
    /// Calls asked for.
    pub calls: usize,
    /// Calls that connected.
    pub connected: usize,
    /// Connects that failed.
    pub connect_failures: u64,
    /// The measured window.
    pub window: Duration,
    /// Σ calls × seconds connected inside the window.
    pub call_seconds: f64,
    /// Frames sent.
    pub frames: u64,
    /// Frames sent later than the threshold.
    pub late_frames: u64,
    /// Lateness of frames against the generator's schedule.
    pub lateness: Hist,
    /// `Some(reason)` when the run is void.
    pub void: Option<String>,
    /// Keys pressed.
    pub presses: u64,
    /// Keys followed by the next prompt.
    pub answered: u64,
    /// Keys not followed by a prompt before the next key or the end.
    pub unanswered: u64,
    /// Answers that began before the tone had ended (counted as 0 ms from the end).
    pub answered_before_release: u64,
    /// End of the key's tone → first frame of the next prompt.
    pub key_to_prompt: Hist,
    /// Start of the key's tone → first frame of the next prompt.
    pub key_from_start: Hist,
    /// Silences heard mid-prompt (runs of frames with the buffer empty).
    pub gaps: u64,
    /// Frames of such silence.
    pub gap_frames: u64,
    /// Socket errors.
    pub errors: u64,
    /// Calls the server closed before the run ended.
    pub early_hangups: u64,
    /// Calls the engine said it queued.
    pub queued: u64,
    /// Prompts that played to their end mark.
    pub prompts_heard: u64,
    /// Keys pressed inside entries (not answered one by one; not in `presses`).
    pub entry_keys: u64,
    /// Calls dialled, over every line (first calls and redials).
    pub dialled: u64,
    /// Of which redials.
    pub redials: u64,
    /// Calls the engine handed on.
    pub transferred: u64,
    /// Calls a queue would not serve (see [`LineFigures::refused`]).
    pub refused: u64,
    /// Calls turned away by a closed line.
    pub closed: u64,
    /// Queue waits of transferred calls, every line.
    pub queue_waits: Waits,
    /// Per line, in the order given.
    pub lines: Vec<LineFigures>,
    /// The simulated agents, when the run had some.
    pub agents: Option<AgentFigures>,
    /// The server process's figures, if found.
    pub server: Option<ServerFigures>,
    /// The generator's own CPU ms per call-second.
    pub generator_cpu_ms_per_call_second: Option<f64>,
    /// The server's inbound frame handling histogram over the window, if it exports one.
    pub frame_handling: Option<Buckets>,
    /// 1-minute load average at the end of the window.
    pub load_average: Option<f64>,
}

fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `host:port` of a `ws://` URL.
pub fn authority(url: &str) -> Result<String, LoadError> {
    let rest = url
        .strip_prefix("ws://")
        .ok_or_else(|| LoadError::BadUrl(url.into()))?;
    let auth = rest.split('/').next().unwrap_or_default();
    if !auth.contains(':') || auth.is_empty() {
        return Err(LoadError::BadUrl(url.into()));
    }
    Ok(auth.to_owned())
}

fn port_of(authority: &str) -> Option<u16> {
    authority.rsplit(':').next()?.parse().ok()
}

/// Runs one load test to its end on a new current-thread runtime (call from outside any
/// runtime).
pub fn run(opts: &LoadOptions) -> Result<Report, LoadError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, run_local(opts))
}

struct Snapshot {
    server: Option<procfs::ProcSample>,
    me: Option<procfs::ProcSample>,
    metrics: Option<Buckets>,
}

async fn snapshot(pid: Option<u32>, metrics_url: Option<&str>) -> Snapshot {
    let metrics = match metrics_url {
        Some(u) => scrape::fetch(u)
            .await
            .and_then(|t| scrape::parse_buckets(&t, FRAME_HISTOGRAM)),
        None => None,
    };
    Snapshot {
        server: pid.and_then(procfs::sample),
        me: procfs::sample(std::process::id()),
        metrics,
    }
}

async fn run_local(opts: &LoadOptions) -> Result<Report, LoadError> {
    if opts.lines.is_empty() {
        return Err(LoadError::NoLines);
    }
    let addr = authority(&opts.url)?;
    let pid = opts
        .server_pid
        .or_else(|| port_of(&addr).and_then(procfs::pid_listening_on));
    let digits: Vec<Digit> = opts
        .lines
        .iter()
        .flat_map(|l| l.script.iter())
        .filter_map(|s| match s {
            Step::Key(d) | Step::EntryKey(d) => Some(*d),
            _ => None,
        })
        .collect();
    let templates = Rc::new(wire::Templates::new(&digits, opts.dtmf != DtmfMode::Event));
    // Each line's script and closed-line prompts, shared by its calls.
    let scripts: Vec<Rc<Vec<Step>>> = opts
        .lines
        .iter()
        .map(|l| Rc::new(l.script.clone()))
        .collect();
    let closed: Vec<Rc<[String]>> = opts
        .lines
        .iter()
        .map(|l| l.closed_prompts.clone().into())
        .collect();
    // Agents are ready before the first call connects.
    let desk = match &opts.agents {
        Some(a) if a.count > 0 => Some(desk::Desk::start(a.clone()).await?),
        _ => None,
    };
    let idle = pid.and_then(procfs::sample);

    let base = Instant::now() + Duration::from_millis(50);
    let ctl = Rc::new(Ctl {
        stopping: Cell::new(false),
        active: Cell::new(0),
        base,
        slots: RefCell::new(vec![Vec::new(); SLOTS]),
        totals: RefCell::new(Totals {
            lines: opts.lines.iter().map(|_| LineTotals::default()).collect(),
            ..Totals::default()
        }),
    });
    let rate = opts.connect_rate.max(1.0);
    let mut calls = Vec::with_capacity(opts.calls);
    for index in 0..opts.calls {
        let line = index % opts.lines.len();
        let setup = LineSetup {
            index,
            line,
            url: opts.url.clone(),
            addr: addr.clone(),
            number: opts.lines[line].number.clone(),
            script: Rc::clone(&scripts[line]),
            closed_prompts: Rc::clone(&closed[line]),
            dtmf: opts.dtmf,
            templates: Rc::clone(&templates),
            connect_at: base + Duration::from_secs_f64(index as f64 / rate),
            late_threshold: opts.late_threshold,
            redial_after: opts.redial_after,
        };
        calls.push(tokio::task::spawn_local(line::run(setup, Rc::clone(&ctl))));
    }
    let connect_end = base + Duration::from_secs_f64(opts.calls as f64 / rate);
    let window_start = connect_end + opts.settle;
    let window_end = window_start + opts.duration;

    // The scheduler: one timer for every call.
    let call_ms = Rc::new(Cell::new(0u64));
    let done = Rc::new(Notify::new());
    let scheduler = {
        let ctl = Rc::clone(&ctl);
        let call_ms = Rc::clone(&call_ms);
        let done = Rc::clone(&done);
        tokio::task::spawn_local(async move {
            let mut tick: u64 = 0;
            loop {
                let at = ctl.base + Duration::from_millis(tick);
                tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = done.notified() => return,
                }
                let now = Instant::now();
                // Catch up slot by slot if this wake-up came late.
                while ctl.base + Duration::from_millis(tick) <= now {
                    let slot_at = ctl.base + Duration::from_millis(tick);
                    if slot_at >= window_start && slot_at < window_end {
                        call_ms.set(call_ms.get() + ctl.active.get() as u64);
                    }
                    let slot = usize::try_from(tick % SLOTS as u64).unwrap_or(0);
                    for n in &ctl.slots.borrow()[slot] {
                        n.notify_one();
                    }
                    tick += 1;
                }
            }
        })
    };

    tokio::time::sleep_until(window_start).await;
    let first = snapshot(pid, opts.metrics_url.as_deref()).await;
    tokio::time::sleep_until(window_end).await;
    let last = snapshot(pid, opts.metrics_url.as_deref()).await;
    let load = load_average();
    ctl.stopping.set(true);
    for c in calls {
        let _ = tokio::time::timeout(Duration::from_secs(5), c).await;
    }
    done.notify_one();
    let _ = scheduler.await;
    let agents = match desk {
        Some(d) => Some(d.finish().await),
        None => None,
    };

    let call_seconds = call_ms.get() as f64 / 1000.0;
    let per_cs = |a: Option<procfs::ProcSample>, b: Option<procfs::ProcSample>| {
        let (a, b) = (a?, b?);
        (call_seconds > 0.0)
            .then(|| b.cpu.saturating_sub(a.cpu).as_secs_f64() * 1000.0 / call_seconds)
    };
    let t = ctl.totals.take();
    let server = match (pid, idle, first.server, last.server) {
        (Some(pid), Some(idle), Some(_), Some(l)) => Some(ServerFigures {
            pid,
            cpu_ms_per_call_second: per_cs(first.server, last.server).unwrap_or(0.0),
            rss_idle: idle.rss,
            rss_loaded: l.rss,
            rss_per_call: (l.rss as f64 - idle.rss as f64) / t.connected.max(1) as f64,
        }),
        _ => None,
    };
    let frame_handling = match (first.metrics, last.metrics) {
        (Some(a), Some(b)) => Some(b.since(&a)),
        (None, Some(b)) => Some(b),
        _ => None,
    };
    let line_figures: Vec<LineFigures> = opts
        .lines
        .iter()
        .zip(&t.lines)
        .map(|(spec, l)| LineFigures {
            number: spec.number.clone(),
            dialled: l.dialled,
            redials: l.redials,
            queued: l.queued,
            transferred: l.transferred,
            refused: l.refused,
            closed: l.closed,
            early_hangups: l.early_hangups,
            errors: l.errors,
            queue_waits: l.waits.clone(),
        })
        .collect();
    let mut queue_waits = Waits::default();
    for l in &line_figures {
        queue_waits.extend(&l.queue_waits);
    }
    let sum = |f: fn(&LineFigures) -> u64| line_figures.iter().map(f).sum::<u64>();
    let share = t.late_frames as f64 / t.frames.max(1) as f64;
    let void = if t.connected == 0 {
        Some("no call connected".to_owned())
    } else if share > opts.max_late_share {
        Some(format!(
            "generator fell behind: {} of {} frames ({:.2} %) later than {} ms",
            t.late_frames,
            t.frames,
            share * 100.0,
            opts.late_threshold.as_millis()
        ))
    } else {
        None
    };
    Ok(Report {
        url: opts.url.clone(),
        calls: opts.calls,
        connected: t.connected,
        connect_failures: t.connect_failures,
        window: opts.duration,
        call_seconds,
        frames: t.frames,
        late_frames: t.late_frames,
        lateness: t.late,
        void,
        presses: t.presses,
        answered: t.answered,
        unanswered: t.unanswered,
        answered_before_release: t.answered_before_release,
        key_to_prompt: t.key_to_prompt,
        key_from_start: t.key_from_start,
        gaps: t.gaps,
        gap_frames: t.gap_frames,
        errors: t.errors,
        early_hangups: t.early_hangups,
        queued: t.queued,
        prompts_heard: t.prompts_heard,
        entry_keys: t.entry_keys,
        dialled: sum(|l| l.dialled),
        redials: sum(|l| l.redials),
        transferred: sum(|l| l.transferred),
        refused: sum(|l| l.refused),
        closed: sum(|l| l.closed),
        queue_waits,
        lines: line_figures,
        agents,
        server,
        generator_cpu_ms_per_call_second: per_cs(first.me, last.me),
        frame_handling,
        load_average: load,
    })
}

/// Thresholds a run must meet (the targets by default).
#[derive(Clone, Debug)]
pub struct Targets {
    /// Key → prompt p99 at most.
    pub key_p99: Duration,
    /// Inbound frame handling p99 at most (when the server exports it).
    pub frame_p99: Duration,
}

impl Default for Targets {
    fn default() -> Self {
        Self {
            key_p99: Duration::from_millis(40),
            frame_p99: Duration::from_millis(5),
        }
    }
}

impl Report {
    /// Why this run misses the targets (empty: it meets them).
    pub fn breaks(&self, targets: &Targets) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(v) = &self.void {
            out.push(format!("VOID: {v}"));
        }
        if self.connected < self.calls {
            out.push(format!(
                "{} of {} calls connected",
                self.connected, self.calls
            ));
        }
        if self.unanswered > 0 {
            out.push(format!("{} keys unanswered", self.unanswered));
        }
        if let Some(p) = self.key_to_prompt.quantile(0.99)
            && p > targets.key_p99
        {
            out.push(format!("key→prompt p99 {} ms", p.as_millis()));
        }
        if self.gaps > 0 {
            out.push(format!("{} playout gaps", self.gaps));
        }
        if self.errors > 0 || self.early_hangups > 0 {
            out.push(format!(
                "{} errors, {} early hang-ups",
                self.errors, self.early_hangups
            ));
        }
        if let Some(p) = self.frame_handling.as_ref().and_then(|b| b.quantile(0.99))
            && p > targets.frame_p99
        {
            out.push(format!("frame handling p99 {:.1} ms", ms(p)));
        }
        out
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn secs(w: &Waits, q: f64) -> String {
    w.quantile(q)
        .map_or_else(|| "-".to_owned(), |d| format!("{:.1}", d.as_secs_f64()))
}

fn q(h: &Hist, q: f64) -> String {
    h.quantile(q)
        .map_or_else(|| "-".to_owned(), |d| format!("{:.1}", ms(d)))
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "run        {} calls → {}", self.calls, self.url)?;
        match &self.void {
            Some(v) => writeln!(f, "validity   VOID: {v}")?,
            None => writeln!(
                f,
                "validity   valid ({} of {} frames late; lateness p99 {} ms, max {:.1} ms)",
                self.late_frames,
                self.frames,
                q(&self.lateness, 0.99),
                ms(self.lateness.max())
            )?,
        }
        writeln!(
            f,
            "calls      {} connected, {} connect failures, {} errors, {} early hang-ups, {} queued, {} prompts heard",
            self.connected,
            self.connect_failures,
            self.errors,
            self.early_hangups,
            self.queued,
            self.prompts_heard
        )?;
        writeln!(
            f,
            "keys       {} pressed, {} answered, {} unanswered, {} answered before release{}",
            self.presses,
            self.answered,
            self.unanswered,
            self.answered_before_release,
            if self.entry_keys > 0 {
                format!(" (+ {} inside entries)", self.entry_keys)
            } else {
                String::new()
            }
        )?;
        if self.lines.len() > 1
            || self.agents.is_some()
            || self.transferred + self.refused + self.closed + self.redials > 0
        {
            writeln!(
                f,
                "queues     {} dialled ({} redials), {} queued, {} transferred, {} refused, {} closed; queue wait p50 {} s, p99 {} s",
                self.dialled,
                self.redials,
                self.queued,
                self.transferred,
                self.refused,
                self.closed,
                secs(&self.queue_waits, 0.5),
                secs(&self.queue_waits, 0.99)
            )?;
            if self.lines.len() > 1 {
                for l in &self.lines {
                    writeln!(
                        f,
                        "  {:<14} {} dialled ({} redials), {} queued, {} transferred, {} refused, {} closed, {} early hang-ups, {} errors; queue wait p50 {} s, p99 {} s",
                        l.number,
                        l.dialled,
                        l.redials,
                        l.queued,
                        l.transferred,
                        l.refused,
                        l.closed,
                        l.early_hangups,
                        l.errors,
                        secs(&l.queue_waits, 0.5),
                        secs(&l.queue_waits, 0.99)
                    )?;
                }
            }
        }
        if let Some(a) = &self.agents {
            writeln!(
                f,
                "agents     {} simulated, {} calls taken{}",
                a.count,
                a.took,
                a.error
                    .as_ref()
                    .map_or_else(String::new, |e| format!("; stopped early: {e}"))
            )?;
        }
        writeln!(
            f,
            "key→prompt p50 {} ms, p99 {} ms, max {:.1} ms (from tone end); p50 {} ms from tone start",
            q(&self.key_to_prompt, 0.5),
            q(&self.key_to_prompt, 0.99),
            ms(self.key_to_prompt.max()),
            q(&self.key_from_start, 0.5)
        )?;
        writeln!(
            f,
            "playout    {} gaps mid-prompt ({} frames)",
            self.gaps, self.gap_frames
        )?;
        writeln!(
            f,
            "window     {:.0} s, {:.0} call-seconds, load average {}",
            self.window.as_secs_f64(),
            self.call_seconds,
            self.load_average
                .map_or_else(|| "-".to_owned(), |l| format!("{l:.2}"))
        )?;
        match &self.server {
            Some(s) => writeln!(
                f,
                "server     pid {}: {:.3} CPU ms per call-second, RSS {:.1} KB per call ({:.1} MB idle → {:.1} MB)",
                s.pid,
                s.cpu_ms_per_call_second,
                s.rss_per_call / 1024.0,
                s.rss_idle as f64 / 1048576.0,
                s.rss_loaded as f64 / 1048576.0
            )?,
            None => writeln!(f, "server     process not found (give --engine-pid)")?,
        }
        if let Some(g) = self.generator_cpu_ms_per_call_second {
            writeln!(f, "generator  {g:.3} CPU ms per call-second")?;
        }
        match &self.frame_handling {
            Some(b) if b.total() > 0 => writeln!(
                f,
                "frames in  {} handled; p50 ≤ {} ms, p99 ≤ {} ms (server histogram)",
                b.total(),
                b.quantile(0.5)
                    .map_or_else(|| ">max".to_owned(), |d| format!("{:.2}", ms(d))),
                b.quantile(0.99)
                    .map_or_else(|| ">max".to_owned(), |d| format!("{:.2}", ms(d)))
            )?,
            _ => writeln!(f, "frames in  no {FRAME_HISTOGRAM} from the server")?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_parse_keys_waits_next_and_hangup() {
        let d = |c| Digit::new(c).expect("digit");
        assert_eq!(
            parse_script("next wait:1s 1 2 hangup").expect("script"),
            vec![
                Step::NextPrompt,
                Step::Wait(Duration::from_secs(1)),
                Step::Key(d('1')),
                Step::Key(d('2')),
                Step::Hangup
            ]
        );
        assert!(parse_script("1 x").is_err());
        assert!(parse_script(DEFAULT_KEYS).is_ok());
    }

    #[test]
    fn a_word_of_several_keys_is_an_entry_answered_only_at_its_last_key() {
        let d = |c| Digit::new(c).expect("digit");
        assert_eq!(
            parse_script("1 52# wait:500ms").expect("script"),
            vec![
                Step::Key(d('1')),
                Step::EntryKey(d('5')),
                Step::EntryKey(d('2')),
                Step::Key(d('#')),
                Step::Wait(Duration::from_millis(500)),
            ]
        );
        assert!(
            parse_script(DEFAULT_KEYS)
                .expect("script")
                .iter()
                .all(|s| !matches!(s, Step::EntryKey(_))),
            "the default script presses single keys"
        );
    }

    #[test]
    fn lines_parse_as_a_number_with_an_optional_script() {
        let default = parse_script(DEFAULT_KEYS).expect("script");
        let plain = parse_line("95017", &default).expect("line");
        assert_eq!(plain, LineSpec::new("95017", default.clone()));
        let own = parse_line("0755-83765566=next 52300019#", &default).expect("line");
        assert_eq!(own.number, "0755-83765566");
        assert_eq!(own.script, parse_script("next 52300019#").expect("script"));
        assert!(own.closed_prompts.is_empty());
        assert!(parse_line("=1 2", &default).is_err(), "no number");
        assert!(parse_line("hotline=1", &default).is_err(), "not a number");
        assert!(parse_line("95017=1 x", &default).is_err(), "bad script");
    }

    #[test]
    fn the_hotlines_preset_dials_each_line_with_a_valid_script() {
        let lines = preset("hotlines").expect("preset");
        let numbers: Vec<&str> = lines.iter().map(|l| l.number.as_str()).collect();
        assert_eq!(numbers, ["95017", "075583765566", "4006700700"]);
        for (l, (_, text, _)) in lines.iter().zip(HOTLINES) {
            assert_eq!(
                l.script,
                parse_script(text).expect("script"),
                "{}",
                l.number
            );
            assert_eq!(l.script.first(), Some(&Step::NextPrompt), "{}", l.number);
        }
        // The merchant line keys a merchant id of the table and ends it with `#`.
        let merchant = &lines[1];
        assert!(
            merchant
                .script
                .contains(&Step::Key(Digit::new('#').expect("digit")))
        );
        assert_eq!(
            merchant
                .script
                .iter()
                .filter(|s| matches!(s, Step::EntryKey(_)))
                .count(),
            8
        );
        assert!(lines[0].closed_prompts.is_empty(), "95017 never closes");
        assert_eq!(lines[2].closed_prompts, ["wealth_hours"]);
        assert!(preset("nonsense").is_none());
    }

    #[test]
    fn urls_give_their_authority() {
        assert_eq!(
            authority("ws://127.0.0.1:8080/twilio").expect("url"),
            "127.0.0.1:8080"
        );
        assert!(authority("http://x:1/").is_err());
        assert!(authority("ws://nohost/twilio").is_err());
        assert_eq!(port_of("127.0.0.1:8080"), Some(8080));
    }
}
