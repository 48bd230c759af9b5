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
//! It measures: key press → first frame of the next prompt (from the end of the tone), playout
//! gaps a caller would hear mid-prompt, errors and early hang-ups, and — from `/proc` and the
//! engine's `/metrics` — engine CPU per call-second, RSS per call and inbound frame handling.
//! This is an ops tool; it must never be linked into the serving path.

pub mod baseline;
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

pub use hist::Hist;
use line::{Ctl, LineSetup};
pub use scrape::Buckets;

use crate::ids::Digit;

/// Scheduler slots per frame period (1 ms each).
pub const SLOTS: usize = 20;

/// The engine's inbound frame histogram.
pub const FRAME_HISTOGRAM: &str = "ivr_frame_handling_seconds";

/// How keys are sent: the caller simulator's modes.
pub use crate::sim::DtmfMode;

/// One step of every call's script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Press a key: 80 ms tone, 80 ms gap.
    Key(Digit),
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

/// Parses a script: keys (`1`, `12#`), `wait:2s`, `next`, `hangup`.
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
            for c in word.chars() {
                let digit = Digit::new(c).ok_or_else(|| {
                    format!("{c:?} in {word:?} is not a key (0-9 * # A-D, wait:2s, next, hangup)")
                })?;
                steps.push(Step::Key(digit));
            }
        }
    }
    Ok(steps)
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
    /// The number dialled.
    pub number: String,
    /// Every call's script.
    pub script: Vec<Step>,
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
    /// 95017, the default script, in-band keys, late beyond 20 ms, void above 0.1 % late.
    pub fn new(url: impl Into<String>, calls: usize) -> Self {
        Self {
            url: url.into(),
            calls,
            duration: Duration::from_secs(60),
            connect_rate: 100.0,
            settle: Duration::from_secs(2),
            number: "95017".into(),
            script: parse_script(DEFAULT_KEYS).unwrap_or_default(),
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
    let addr = authority(&opts.url)?;
    let pid = opts
        .server_pid
        .or_else(|| port_of(&addr).and_then(procfs::pid_listening_on));
    let digits: Vec<Digit> = opts
        .script
        .iter()
        .filter_map(|s| match s {
            Step::Key(d) => Some(*d),
            _ => None,
        })
        .collect();
    let templates = Rc::new(wire::Templates::new(&digits, opts.dtmf != DtmfMode::Event));
    let script = Rc::new(opts.script.clone());
    let idle = pid.and_then(procfs::sample);

    let base = Instant::now() + Duration::from_millis(50);
    let ctl = Rc::new(Ctl {
        stopping: Cell::new(false),
        active: Cell::new(0),
        base,
        slots: RefCell::new(vec![Vec::new(); SLOTS]),
        totals: RefCell::new(Totals::default()),
    });
    let rate = opts.connect_rate.max(1.0);
    let mut lines = Vec::with_capacity(opts.calls);
    for index in 0..opts.calls {
        let setup = LineSetup {
            index,
            url: opts.url.clone(),
            addr: addr.clone(),
            number: opts.number.clone(),
            script: Rc::clone(&script),
            dtmf: opts.dtmf,
            templates: Rc::clone(&templates),
            connect_at: base + Duration::from_secs_f64(index as f64 / rate),
            late_threshold: opts.late_threshold,
        };
        lines.push(tokio::task::spawn_local(line::run(setup, Rc::clone(&ctl))));
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
    for l in lines {
        let _ = tokio::time::timeout(Duration::from_secs(5), l).await;
    }
    done.notify_one();
    let _ = scheduler.await;

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
            "keys       {} pressed, {} answered, {} unanswered, {} answered before release",
            self.presses, self.answered, self.unanswered, self.answered_before_release
        )?;
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
            parse_script("next wait:1s 12 hangup").expect("script"),
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
