//! `ivr load`: drive N simulated Twilio calls at an engine (and, in the same run, at the bare
//! baseline server) and print what callers experienced and what each server spent; `--ramp`
//! steps N up until a target breaks and prints the knee; `--baseline-server ADDR` runs the
//! bare baseline. It only prints and returns exit codes; the work is in [`crate::load`].

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use crate::gateway::config::parse_duration;
use crate::load::{self, DEFAULT_KEYS, DtmfMode, LoadOptions, Report, Targets};

/// Flags of `ivr load`.
#[derive(clap::Args, Debug)]
pub struct LoadArgs {
    /// Concurrent calls (with --ramp: the most to try).
    #[arg(long, default_value_t = 100)]
    pub calls: usize,
    /// Step the number of calls up by this much per run until a target breaks.
    #[arg(long)]
    pub ramp: Option<usize>,
    /// Measured window of each run, after connecting and settling.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub duration: Duration,
    /// The engine's Twilio media URL.
    #[arg(long, default_value = "ws://127.0.0.1:8080/twilio")]
    pub url: String,
    /// How keys are sent: inband, event or both.
    #[arg(long, default_value = "inband")]
    pub dtmf: DtmfMode,
    /// The number dialled.
    #[arg(long, default_value = "95017")]
    pub number: String,
    /// Every call's script: keys, wait:1s, next (wait for the next prompt), hangup.
    #[arg(long, default_value = DEFAULT_KEYS)]
    pub keys: String,
    /// The engine's process id (default: the process listening on the URL's port).
    #[arg(long)]
    pub engine_pid: Option<u32>,
    /// The engine's Prometheus endpoint, for its inbound frame histogram.
    #[arg(long, default_value = "http://127.0.0.1:9091/metrics")]
    pub metrics_url: String,
    /// The bare baseline's URL: each run drives it too, right after the engine.
    #[arg(long)]
    pub baseline_url: Option<String>,
    /// The baseline's process id (default: found by its port).
    #[arg(long)]
    pub baseline_pid: Option<u32>,
    /// Runs per figure (medians are printed).
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// New calls per second while connecting.
    #[arg(long, default_value_t = 100.0)]
    pub connect_rate: f64,
    /// Pause after the last connect before measuring.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub settle: Duration,
    /// A frame later than this (ms) counts as late.
    #[arg(long, default_value_t = 20)]
    pub late_ms: u64,
    /// Share of late frames (percent) above which a run is void.
    #[arg(long, default_value_t = 0.1)]
    pub max_late_pct: f64,
    /// Run the bare baseline server on this address instead (serves /twilio until killed).
    #[arg(long)]
    pub baseline_server: Option<SocketAddr>,
    /// The baseline server's playout top-up, e.g. 100ms (the engine's `playout_refill`);
    /// the default sends each 20 ms frame as it falls due.
    #[arg(long, default_value = "20ms", value_parser = parse_duration)]
    pub baseline_refill: Duration,
}

impl LoadArgs {
    fn options(
        &self,
        url: &str,
        calls: usize,
        pid: Option<u32>,
        metrics: Option<String>,
    ) -> Result<LoadOptions, String> {
        let mut o = LoadOptions::new(url, calls);
        o.duration = self.duration;
        o.connect_rate = self.connect_rate;
        o.settle = self.settle;
        o.number = self.number.clone();
        o.script = load::parse_script(&self.keys)?;
        o.dtmf = self.dtmf;
        o.late_threshold = Duration::from_millis(self.late_ms);
        o.max_late_share = self.max_late_pct / 100.0;
        o.server_pid = pid;
        o.metrics_url = metrics;
        Ok(o)
    }
}

/// One engine run and, when asked, the baseline's in the same run.
struct Pair {
    engine: Report,
    baseline: Option<Report>,
}

fn run_pair(args: &LoadArgs, calls: usize, out: &mut dyn Write) -> Result<Pair, String> {
    let o = args.options(
        &args.url,
        calls,
        args.engine_pid,
        Some(args.metrics_url.clone()),
    )?;
    let engine = load::run(&o).map_err(|e| e.to_string())?;
    let _ = writeln!(out, "--- engine\n{engine}");
    let baseline = match &args.baseline_url {
        Some(u) => {
            // Let the engine's sessions close before the baseline's turn.
            std::thread::sleep(Duration::from_secs(2));
            let o = args.options(u, calls, args.baseline_pid, None)?;
            let b = load::run(&o).map_err(|e| e.to_string())?;
            let _ = writeln!(out, "--- baseline\n{b}");
            Some(b)
        }
        None => None,
    };
    std::thread::sleep(Duration::from_secs(2));
    Ok(Pair { engine, baseline })
}

/// The median of some figures (`None` when there are none).
pub fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn ms(d: Option<Duration>) -> f64 {
    d.map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
}

fn cpu(r: &Report) -> f64 {
    r.server
        .as_ref()
        .map_or(f64::NAN, |s| s.cpu_ms_per_call_second)
}

fn rss_kb(r: &Report) -> f64 {
    r.server
        .as_ref()
        .map_or(f64::NAN, |s| s.rss_per_call / 1024.0)
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.digits$}"))
}

/// Prints the medians of repeated runs, engine against baseline.
fn summary(pairs: &[Pair], out: &mut dyn Write) {
    type Figure = (&'static str, fn(&Report) -> f64, usize);
    let figures: [Figure; 8] = [
        (
            "key→prompt p50 ms",
            |r| ms(r.key_to_prompt.quantile(0.5)),
            1,
        ),
        (
            "key→prompt p99 ms",
            |r| ms(r.key_to_prompt.quantile(0.99)),
            1,
        ),
        ("key→prompt max ms", |r| ms(Some(r.key_to_prompt.max())), 1),
        ("gaps mid-prompt", |r| r.gaps as f64, 0),
        ("server CPU ms/call-s", cpu, 3),
        ("server RSS KB/call", rss_kb, 1),
        (
            "generator CPU ms/call-s",
            |r| r.generator_cpu_ms_per_call_second.unwrap_or(f64::NAN),
            3,
        ),
        (
            "frame handling p99 ms",
            |r| ms(r.frame_handling.as_ref().and_then(|b| b.quantile(0.99))),
            2,
        ),
    ];
    let valid = pairs.iter().filter(|p| p.engine.void.is_none()).count();
    let _ = writeln!(
        out,
        "=== medians over {} run(s) ({} valid engine runs), load average {}",
        pairs.len(),
        valid,
        fmt(
            median(pairs.iter().filter_map(|p| p.engine.load_average).collect()),
            2
        )
    );
    let _ = writeln!(
        out,
        "{:<26} {:>10} {:>10} {:>8}",
        "figure", "engine", "baseline", "ratio"
    );
    for (name, f, digits) in figures {
        let e = median(pairs.iter().map(|p| f(&p.engine)).collect());
        let b = median(
            pairs
                .iter()
                .filter_map(|p| p.baseline.as_ref().map(f))
                .collect(),
        );
        let ratio = match (e, b) {
            (Some(e), Some(b)) if b > 0.0 => Some(e / b),
            _ => None,
        };
        let _ = writeln!(
            out,
            "{name:<26} {:>10} {:>10} {:>8}",
            fmt(e, digits),
            fmt(b, digits),
            fmt(ratio, 2)
        );
    }
    if let Some(c) = median(pairs.iter().map(|p| cpu(&p.engine)).collect())
        && c > 0.0
    {
        let _ = writeln!(
            out,
            "2 dedicated cores at this cost: about {:.0} concurrent calls (2,000 ms ÷ {c:.3} ms)",
            2000.0 / c
        );
    }
}

fn ramp(args: &LoadArgs, step: usize, out: &mut dyn Write) -> Result<u8, String> {
    let targets = Targets::default();
    let mut knee: Option<(usize, f64)> = None;
    let mut n = step.max(1);
    let _ = writeln!(out, "ramp: {step} calls per step up to {}", args.calls);
    while n <= args.calls {
        let pair = run_pair(args, n, out)?;
        let breaks = pair.engine.breaks(&targets);
        let base = pair.baseline.as_ref().map(|b| b.breaks(&targets));
        let _ = writeln!(
            out,
            "=== {n} calls: engine {} | baseline {} | engine CPU {} ms/call-s, baseline {}",
            if breaks.is_empty() {
                "ok".to_owned()
            } else {
                breaks.join("; ")
            },
            base.map_or_else(
                || "-".to_owned(),
                |b| if b.is_empty() {
                    "ok".to_owned()
                } else {
                    b.join("; ")
                }
            ),
            fmt(Some(cpu(&pair.engine)), 3),
            fmt(pair.baseline.as_ref().map(cpu), 3),
        );
        if pair.engine.void.is_some() {
            let _ = writeln!(
                out,
                "knee: not found — the generator itself fell behind at {n} calls (run VOID); last good step {}",
                knee.map_or(0, |k| k.0)
            );
            return Ok(1);
        }
        if !breaks.is_empty() {
            break;
        }
        knee = Some((n, cpu(&pair.engine)));
        n += step.max(1);
    }
    match knee {
        Some((k, c)) => {
            let _ = writeln!(
                out,
                "knee: {k} calls meet every target{}; {:.3} CPU ms per call-second there → about {:.0} calls on 2 dedicated cores",
                if k + step > args.calls {
                    " (the most tried)"
                } else {
                    ""
                },
                c,
                2000.0 / c
            );
            Ok(0)
        }
        None => {
            let _ = writeln!(
                out,
                "knee: below {step} calls (the first step broke a target)"
            );
            Ok(1)
        }
    }
}

/// Runs `ivr load`.
pub fn run(args: &LoadArgs) -> ExitCode {
    if let Some(addr) = args.baseline_server {
        return match load::baseline::run(addr, args.baseline_refill) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ivr load: baseline server: {e}");
                ExitCode::from(2)
            }
        };
    }
    let mut out = std::io::stdout().lock();
    let result = match args.ramp {
        Some(step) => ramp(args, step, &mut out),
        None => (|| {
            let mut pairs = Vec::new();
            for i in 0..args.repeat.max(1) {
                let _ = writeln!(out, "### run {} of {}", i + 1, args.repeat.max(1));
                pairs.push(run_pair(args, args.calls, &mut out)?);
            }
            summary(&pairs, &mut out);
            Ok(u8::from(pairs.iter().any(|p| p.engine.void.is_some())))
        })(),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("ivr load: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_take_the_middle_and_skip_missing_figures() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![f64::NAN, 5.0]), Some(5.0));
        assert_eq!(median(vec![]), None);
    }
}
