//! `ivr load`: drive N simulated Twilio calls at an engine (and, in the same run, at the bare
//! baseline server) and print what callers experienced and what each server spent; `--ramp`
//! steps N up until a target breaks and prints the knee; `--baseline-server ADDR` runs the
//! bare baseline. Calls may dial several lines (`--line`, `--lines hotlines`) into queues
//! served by simulated agents (`--agents`, engine runs only). It only parses, prints and
//! returns exit codes; the work is in [`crate::load`].

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use crate::gateway::config::parse_duration;
use crate::load::{self, DEFAULT_KEYS, DtmfMode, LineSpec, LoadOptions, Report, Targets};
use crate::sim::agents::AgentsOptions;

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
    /// The number dialled (the single-line form; see --line).
    #[arg(long, default_value = "95017", conflicts_with_all = ["line", "lines"])]
    pub number: String,
    /// Every call's script: keys, wait:1s, next (wait for the next prompt), hangup; a word of
    /// several keys is one entry (52300019#: keys back to back, only the last one answered).
    /// With --line: the script of lines given without one.
    #[arg(long, default_value = DEFAULT_KEYS)]
    pub keys: String,
    /// A line to dial, NUMBER or NUMBER=SCRIPT (repeatable; calls go round-robin over the
    /// lines), e.g. --line 95017 --line "4006700700=next wait:500ms 1 wait:500ms 2".
    #[arg(long = "line", value_name = "NUMBER[=SCRIPT]")]
    pub line: Vec<String>,
    /// Preset lines: `hotlines` dials 95017, 075583765566 and 4006700700, each with a script
    /// into its queue (95017 emergency, merchant id of an individual merchant then API
    /// failure, wealth earnings dispute); added before any --line.
    #[arg(long, value_name = "PRESET")]
    pub lines: Option<String>,
    /// Simulated agents serving every queue during engine runs (never the baseline's):
    /// logged in before the first call, out after the last.
    #[arg(long, default_value_t = 0)]
    pub agents: usize,
    /// Agents' ring time before they take an offer.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub agent_answer_after: Duration,
    /// Agents' talk time per call.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub agent_talk: Duration,
    /// The engine's admin listener for the agents API (default: scheme, host and port of
    /// --metrics-url).
    #[arg(long)]
    pub admin_url: Option<String>,
    /// Bearer token of the agents API.
    #[arg(long, env = "IVR_AGENT_TOKEN", hide_env_values = true)]
    pub agent_token: Option<String>,
    /// Dial again after a call left by a transfer, a queue refusal, a closed line or the
    /// script's hang-up, so the calls stay up (default: on with --agents, else off).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub redial: Option<bool>,
    /// Pause before such a redial.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub redial_after: Duration,
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

/// `scheme://host:port` of a URL (`http://127.0.0.1:9091/metrics` → `http://127.0.0.1:9091`).
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split('/').next().unwrap_or_default();
    (!scheme.is_empty() && !host.is_empty()).then(|| format!("{scheme}://{host}"))
}

impl LoadArgs {
    /// The lines to dial: the preset's, then each --line; or --number with --keys.
    pub fn line_specs(&self) -> Result<Vec<LineSpec>, String> {
        let keys = load::parse_script(&self.keys)?;
        let mut lines = match &self.lines {
            Some(name) => load::preset(name)
                .ok_or_else(|| format!("unknown --lines preset {name:?} (hotlines)"))?,
            None => Vec::new(),
        };
        for text in &self.line {
            lines.push(load::parse_line(text, &keys)?);
        }
        if lines.is_empty() {
            lines.push(LineSpec::new(self.number.clone(), keys));
        }
        Ok(lines)
    }

    /// The simulated agents of an engine run, if any.
    pub fn agents_options(&self) -> Result<Option<AgentsOptions>, String> {
        if self.agents == 0 {
            return Ok(None);
        }
        let url = match &self.admin_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => origin_of(&self.metrics_url).ok_or_else(|| {
                format!(
                    "cannot tell the admin URL from --metrics-url {:?}; give --admin-url",
                    self.metrics_url
                )
            })?,
        };
        let mut o = AgentsOptions::new(url, self.agents);
        o.token = self.agent_token.clone().filter(|t| !t.is_empty());
        o.prefix = "load".into();
        o.answer_after = self.agent_answer_after;
        o.talk = self.agent_talk;
        Ok(Some(o))
    }

    /// Options of one run; `engine` runs get the agents and the redial.
    fn options(
        &self,
        url: &str,
        calls: usize,
        pid: Option<u32>,
        metrics: Option<String>,
        engine: bool,
    ) -> Result<LoadOptions, String> {
        let mut o = LoadOptions::new(url, calls);
        o.duration = self.duration;
        o.connect_rate = self.connect_rate;
        o.settle = self.settle;
        o.lines = self.line_specs()?;
        o.dtmf = self.dtmf;
        o.late_threshold = Duration::from_millis(self.late_ms);
        o.max_late_share = self.max_late_pct / 100.0;
        o.server_pid = pid;
        o.metrics_url = metrics;
        if engine {
            o.agents = self.agents_options()?;
            o.redial_after = self
                .redial
                .unwrap_or(self.agents > 0)
                .then_some(self.redial_after);
        }
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
        true,
    )?;
    let engine = load::run(&o).map_err(|e| e.to_string())?;
    let _ = writeln!(out, "--- engine\n{engine}");
    let baseline = match &args.baseline_url {
        Some(u) => {
            // Let the engine's sessions close before the baseline's turn.
            std::thread::sleep(Duration::from_secs(2));
            let o = args.options(u, calls, args.baseline_pid, None, false)?;
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
    // (name, figure, decimals, from the first run only). RSS per call is taken from the
    // first run: later runs reuse memory the first one grew, so their growth says nothing.
    type Figure = (&'static str, fn(&Report) -> f64, usize, bool);
    let figures: [Figure; 8] = [
        (
            "key→prompt p50 ms",
            |r| ms(r.key_to_prompt.quantile(0.5)),
            1,
            false,
        ),
        (
            "key→prompt p99 ms",
            |r| ms(r.key_to_prompt.quantile(0.99)),
            1,
            false,
        ),
        (
            "key→prompt max ms",
            |r| ms(Some(r.key_to_prompt.max())),
            1,
            false,
        ),
        ("gaps mid-prompt", |r| r.gaps as f64, 0, false),
        ("server CPU ms/call-s", cpu, 3, false),
        ("RSS KB/call (run 1)", rss_kb, 1, true),
        (
            "generator CPU ms/call-s",
            |r| r.generator_cpu_ms_per_call_second.unwrap_or(f64::NAN),
            3,
            false,
        ),
        (
            "frame handling p99 ms",
            |r| ms(r.frame_handling.as_ref().and_then(|b| b.quantile(0.99))),
            2,
            false,
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
    for (name, f, digits, first_only) in figures {
        let runs = if first_only {
            &pairs[..pairs.len().min(1)]
        } else {
            pairs
        };
        let e = median(runs.iter().map(|p| f(&p.engine)).collect());
        let b = median(
            runs.iter()
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

    use clap::Parser as _;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        load: LoadArgs,
    }

    fn args(argv: &[&str]) -> Result<LoadArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("load").chain(argv.iter().copied())).map(|c| c.load)
    }

    #[test]
    fn without_line_flags_one_line_dials_the_number_with_the_keys() {
        let a = args(&["--number", "4006700700", "--keys", "next 2"]).expect("args");
        let lines = a.line_specs().expect("lines");
        assert_eq!(
            lines,
            vec![LineSpec::new(
                "4006700700",
                load::parse_script("next 2").expect("script")
            )]
        );
        let default = args(&[]).expect("args").line_specs().expect("lines");
        assert_eq!(default[0].number, "95017");
        assert_eq!(
            default[0].script,
            load::parse_script(DEFAULT_KEYS).expect("script")
        );
    }

    #[test]
    fn line_flags_add_lines_after_the_preset_and_borrow_the_keys_when_scriptless() {
        let a = args(&[
            "--lines",
            "hotlines",
            "--line",
            "95017",
            "--line",
            "4006700700=next 1",
            "--keys",
            "next 0",
        ])
        .expect("args");
        let lines = a.line_specs().expect("lines");
        let numbers: Vec<&str> = lines.iter().map(|l| l.number.as_str()).collect();
        assert_eq!(
            numbers,
            ["95017", "075583765566", "4006700700", "95017", "4006700700"]
        );
        assert_eq!(
            lines[3].script,
            load::parse_script("next 0").expect("script")
        );
        assert_eq!(
            lines[4].script,
            load::parse_script("next 1").expect("script")
        );
        assert!(
            args(&["--lines", "nope"])
                .expect("args")
                .line_specs()
                .is_err()
        );
        assert!(
            args(&["--number", "95017", "--line", "95017"]).is_err(),
            "--number is the single-line form"
        );
    }

    #[test]
    fn agents_take_the_metrics_origin_and_turn_redial_on_for_engine_runs_only() {
        let a = args(&[
            "--agents",
            "3",
            "--agent-talk",
            "5s",
            "--metrics-url",
            "http://127.0.0.1:19091/metrics",
        ])
        .expect("args");
        let o = a
            .options("ws://127.0.0.1:1/twilio", 10, None, None, true)
            .expect("options");
        let agents = o.agents.expect("agents");
        assert_eq!(agents.url, "http://127.0.0.1:19091");
        assert_eq!(agents.count, 3);
        assert_eq!(agents.talk, Duration::from_secs(5));
        assert_eq!(agents.answer_after, Duration::from_secs(2));
        assert_eq!(o.redial_after, Some(Duration::from_secs(1)));
        let baseline = a
            .options("ws://127.0.0.1:2/twilio", 10, None, None, false)
            .expect("options");
        assert!(baseline.agents.is_none() && baseline.redial_after.is_none());

        let no = args(&["--agents", "3", "--redial", "false"]).expect("args");
        let o = no
            .options("ws://127.0.0.1:1/twilio", 10, None, None, true)
            .expect("options");
        assert_eq!(o.redial_after, None);
        let alone = args(&["--redial", "--redial-after", "300ms"]).expect("args");
        let o = alone
            .options("ws://127.0.0.1:1/twilio", 10, None, None, true)
            .expect("options");
        assert!(o.agents.is_none());
        assert_eq!(o.redial_after, Some(Duration::from_millis(300)));
        let plain = args(&[]).expect("args");
        let o = plain
            .options("ws://127.0.0.1:1/twilio", 10, None, None, true)
            .expect("options");
        assert!(
            o.agents.is_none() && o.redial_after.is_none(),
            "today's default run"
        );
        let admin = args(&["--agents", "1", "--admin-url", "http://10.0.0.1:9/"]).expect("args");
        assert_eq!(
            admin.agents_options().expect("agents").expect("some").url,
            "http://10.0.0.1:9"
        );
    }

    #[test]
    fn origins_keep_scheme_host_and_port() {
        assert_eq!(
            origin_of("http://127.0.0.1:9091/metrics").as_deref(),
            Some("http://127.0.0.1:9091")
        );
        assert_eq!(origin_of("http://h:1").as_deref(), Some("http://h:1"));
        assert_eq!(origin_of("127.0.0.1:9091/metrics"), None);
    }

    #[test]
    fn medians_take_the_middle_and_skip_missing_figures() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![f64::NAN, 5.0]), Some(5.0));
        assert_eq!(median(vec![]), None);
    }
}
