//! `ivr test`: load the flows and their `kind: test` files, run every case on a virtual
//! clock, print the results and the coverage. Thin: running lives in [`crate::flowtest`],
//! loading in [`crate::flow`].

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crate::flow::{LoadOptions, load};
use crate::flowtest::{self, Nominal, PromptDurations};
use crate::ids::Language;
use crate::media::prompts::PromptStore;

/// Output format of `ivr test`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum TestFormat {
    /// `PASS`/`FAIL` lines, a summary and the coverage table.
    #[default]
    Text,
    /// One JSON document with every case and the coverage per flow.
    Json,
}

/// What `ivr test` was asked to do.
#[derive(Clone, Debug, Default)]
pub struct TestOptions {
    /// Flow directories or files (default: `flows/`).
    pub paths: Vec<PathBuf>,
    /// The prompt catalogue (default: `<flows>/../audio-prompts/prompts.yaml`).
    pub prompts: Option<PathBuf>,
    /// Output format.
    pub format: TestFormat,
    /// Node coverage (percent) every flow must reach; below it is a failure.
    pub min_coverage: f64,
    /// Print every case with its path and transcript, not only failures.
    pub verbose: bool,
    /// A prompt folder (`<dir>/<language>/<id>.wav`) whose recorded lengths time the
    /// playbacks; `None`: one second per utterance.
    pub audio: Option<PathBuf>,
}

/// Reads a percentage between 0 and 100 (for `--min-coverage`).
pub fn parse_percent(text: &str) -> Result<f64, String> {
    let text = text.trim().trim_end_matches('%');
    match text.parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        _ => Err(format!("{text:?} is not a percentage from 0 to 100")),
    }
}

/// Runs `ivr test`; returns the exit code: 0 when every case passed and every flow reaches
/// the minimum coverage, 1 otherwise (also when the flows do not load).
pub fn test(opts: &TestOptions, out: &mut dyn Write, err: &mut dyn Write) -> std::io::Result<u8> {
    let load_opts = LoadOptions {
        paths: if opts.paths.is_empty() {
            vec![PathBuf::from("flows")]
        } else {
            opts.paths.clone()
        },
        catalogue: opts.prompts.clone(),
        audio_exists: None,
    };
    let loaded = load(&load_opts);
    let Some(set) = loaded.set else {
        let errors = loaded.errors();
        match opts.format {
            TestFormat::Text => {
                for d in &loaded.diagnostics {
                    writeln!(out, "{d}")?;
                }
                writeln!(
                    out,
                    "{errors} errors: the flows do not load, so no test ran (see `ivr validate`)"
                )?;
            }
            TestFormat::Json => {
                let doc = serde_json::json!({
                    "ok": false,
                    "errors": errors,
                    "diagnostics": loaded.diagnostics,
                });
                let text = serde_json::to_string_pretty(&doc).map_err(std::io::Error::other)?;
                writeln!(out, "{text}")?;
            }
        }
        return Ok(1);
    };
    for d in &loaded.diagnostics {
        writeln!(err, "{d}")?;
    }
    if loaded.tests.is_empty() {
        writeln!(err, "no flow tests (`kind: test` files) found")?;
    }
    let set = Arc::new(set);
    let store = match &opts.audio {
        None => None,
        Some(dir) => {
            let mut languages: Vec<Language> = Vec::new();
            for flow in &set.flows {
                for l in &flow.languages {
                    if !languages.contains(l) {
                        languages.push(l.clone());
                    }
                }
            }
            match PromptStore::load(dir, &languages) {
                Ok(store) => Some(store),
                Err(errors) => {
                    for e in &errors {
                        writeln!(out, "error: {e}")?;
                    }
                    writeln!(
                        out,
                        "the prompt audio under {} does not load, so no test ran",
                        dir.display()
                    )?;
                    return Ok(1);
                }
            }
        }
    };
    let nominal = Nominal::default();
    let durations: &dyn PromptDurations = match &store {
        Some(store) => store,
        None => &nominal,
    };
    // The only clock read: the origin of every case's virtual clock. Results do not depend
    // on it.
    let origin = Instant::now();
    let report = flowtest::run(&set, &loaded.tests, durations, origin);
    match opts.format {
        TestFormat::Text => flowtest::write_text(&report, opts.min_coverage, opts.verbose, out)?,
        TestFormat::Json => flowtest::write_json(&report, opts.min_coverage, out)?,
    }
    Ok(u8::from(!report.ok(opts.min_coverage)))
}
