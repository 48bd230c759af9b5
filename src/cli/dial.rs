//! `ivr dial NUMBER`: call the engine as a gateway would, with a scripted caller, and print
//! what the caller heard. See [`crate::sim`].

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::gateway::config::parse_duration;
use crate::gateway::dialect::DialectKind;
use crate::sim::{self, DialOptions, DtmfMode, Left};

/// Flags of `ivr dial`.
#[derive(clap::Args, Debug)]
pub struct DialArgs {
    /// The number to dial, e.g. 95017.
    pub number: String,
    /// The engine's media listener.
    #[arg(long, default_value = "ws://127.0.0.1:8080")]
    pub url: String,
    /// Which gateway to impersonate: twilio or asterisk.
    #[arg(long, default_value = "twilio")]
    pub dialect: DialectKind,
    /// The caller's script: keys (each pressed once a prompt that takes keys is playing),
    /// `!5` (press now), `wait:2s`, `after:<prompt-id>` / `after:queued` (until heard),
    /// `quiet` (until the prompt ends), `hangup`.
    #[arg(long, default_value = "")]
    pub keys: String,
    /// How keys are sent: inband (tones), event (gateway digit events) or both.
    #[arg(long, default_value = "inband")]
    pub dtmf: DtmfMode,
    /// Write what the caller heard to this WAV file (8 kHz, 16-bit).
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// The caller's number.
    #[arg(long, default_value = "+8613800000000")]
    pub caller: String,
    /// A-law audio (Asterisk dialect).
    #[arg(long)]
    pub alaw: bool,
    /// Hang up this long after the script and the last prompt, if the engine has not ended
    /// the call.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub linger: Duration,
    /// Give up after this long.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub max_duration: Duration,
}

/// Runs `ivr dial`; exit 0 when the call connected, 1 when refused, 2 on errors.
pub fn run(args: &DialArgs) -> ExitCode {
    let steps = match sim::parse_keys(&args.keys) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ivr dial: {e}");
            return ExitCode::from(2);
        }
    };
    let mut opts = DialOptions::new(args.url.clone(), args.number.clone());
    opts.dialect = args.dialect;
    opts.steps = steps;
    opts.dtmf = args.dtmf;
    opts.caller = args.caller.clone();
    opts.alaw = args.alaw;
    opts.linger = args.linger;
    opts.max_duration = args.max_duration;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ivr dial: {e}");
            return ExitCode::from(2);
        }
    };
    let transcript = match runtime.block_on(sim::dial(opts)) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("ivr dial: {e}");
            return ExitCode::from(2);
        }
    };
    print!("{transcript}");
    if let Some(path) = &args.record
        && let Err(e) = crate::media::wav::write_wav_8k(path, &transcript.audio)
    {
        eprintln!("ivr dial: cannot write {}: {e}", path.display());
        return ExitCode::from(2);
    }
    match transcript.left.1 {
        Left::Refused(_) => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    }
}
