//! `ivr prompts check` and `ivr prompts export-text`: ops tools for the prompt folder.
//!
//! `check` lists, for every catalogue entry and language, the file's duration and levels and
//! any problem (missing, extra, unreadable, clipped, silent, too short); it exits 1 when there
//! is a problem. `export-text` prints the catalogue as `id<TAB>language<TAB>text` lines for
//! `audio-prompts/synthesize.sh` on machines without PyYAML. Logic lives in
//! [`crate::media::check`]; this file only loads, prints and picks the exit code.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use crate::flow::catalogue::load_catalogue;
use crate::flow::model::PromptEntry;
use crate::ids::PromptId;
use crate::media::check::{CheckLimits, CheckReport, check_prompts};

/// Loads the catalogue, printing every diagnostic to stderr on failure.
fn catalogue(path: &Path) -> Option<BTreeMap<PromptId, PromptEntry>> {
    match load_catalogue(path) {
        Ok(entries) => Some(entries),
        Err(diagnostics) => {
            for d in diagnostics {
                eprintln!("{d}");
            }
            None
        }
    }
}

/// `ivr prompts check`: exit 0 when every file is fine, 1 on problems, 2 when the catalogue
/// cannot be read.
pub fn check(dir: &Path, catalogue_path: &Path, only_problems: bool) -> ExitCode {
    let Some(entries) = catalogue(catalogue_path) else {
        return ExitCode::from(2);
    };
    if !dir.is_dir() {
        eprintln!("{}: no such prompt folder", dir.display());
        return ExitCode::from(2);
    }
    let report = check_prompts(dir, &entries, &CheckLimits::default());
    let mut out = io::stdout().lock();
    // A closed stdout (`| head`) is not worth a panic; the exit code still tells.
    let _ = print_report(&mut out, &report, only_problems);
    if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn print_report(out: &mut impl Write, report: &CheckReport, only_problems: bool) -> io::Result<()> {
    writeln!(
        out,
        "{:<7} {:<32} {:>9} {:>9} {:>9}  status",
        "lang", "prompt", "duration", "peak", "rms"
    )?;
    for row in &report.files {
        if only_problems && row.problems.is_empty() {
            continue;
        }
        let (duration, peak, rms) = match &row.levels {
            Some(l) => (
                format!("{:.2} s", l.duration.as_secs_f64()),
                format!("{:.1} dB", l.peak_dbfs),
                format!("{:.1} dB", l.rms_dbfs),
            ),
            None => ("-".to_owned(), "-".to_owned(), "-".to_owned()),
        };
        let status = if row.problems.is_empty() {
            "ok".to_owned()
        } else {
            let problems: Vec<String> = row.problems.iter().map(ToString::to_string).collect();
            format!("{} ({})", problems.join("; "), row.path.display())
        };
        writeln!(
            out,
            "{:<7} {:<32} {:>9} {:>9} {:>9}  {status}",
            row.language.as_str(),
            row.prompt.as_str(),
            duration,
            peak,
            rms
        )?;
    }
    let seconds: f64 = report
        .files
        .iter()
        .filter_map(|f| f.levels.as_ref())
        .map(|l| l.duration.as_secs_f64())
        .sum();
    writeln!(
        out,
        "{} files, {:.1} MB, {:.0} s of audio, {} problem(s)",
        report.files.iter().filter(|f| f.levels.is_some()).count(),
        report.total_bytes as f64 / 1_000_000.0,
        seconds,
        report.problem_count()
    )
}

/// `ivr prompts export-text`: exit 0, or 2 when the catalogue cannot be read.
pub fn export_text(catalogue_path: &Path) -> ExitCode {
    let Some(entries) = catalogue(catalogue_path) else {
        return ExitCode::from(2);
    };
    let mut out = io::stdout().lock();
    let _ = write_text(&mut out, &entries);
    ExitCode::SUCCESS
}

fn write_text(out: &mut impl Write, entries: &BTreeMap<PromptId, PromptEntry>) -> io::Result<()> {
    for (id, entry) in entries {
        for (language, text) in &entry.text {
            // Tabs and line breaks would break the line format: fold all whitespace runs.
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            writeln!(out, "{id}\t{language}\t{text}")?;
        }
    }
    out.flush()
}
