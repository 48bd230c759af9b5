//! `ivr prompts check` and `ivr prompts export-text`: ops tools for the prompt folder.
//!
//! `check` lists, for every catalogue entry and language, the file's duration and levels and
//! any problem (missing, extra, unreadable, clipped, silent, too short); exit code 1 when there
//! is a problem. `export-text` prints the catalogue as `id<TAB>language<TAB>text` lines for
//! `audio-prompts/synthesize.sh` on machines without PyYAML. Thin: the checks live in
//! [`crate::media::check`], the catalogue reader in [`crate::flow::catalogue`].

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::flow::catalogue::load_catalogue;
use crate::flow::model::PromptEntry;
use crate::ids::PromptId;
use crate::media::check::{CheckLimits, CheckReport, check_prompts};

/// The `ivr prompts` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum PromptsCommand {
    /// Report missing, extra, unreadable, clipped, silent or too short prompt files and every
    /// file's duration (exit 0 clean, 1 with problems, 2 when the catalogue is unreadable).
    Check {
        /// The prompt folder (`<dir>/<language>/<id>.wav`).
        #[arg(long, default_value = "audio-prompts")]
        dir: PathBuf,
        /// The prompt catalogue (default: `<dir>/prompts.yaml`).
        #[arg(long)]
        catalogue: Option<PathBuf>,
        /// Print only the files with problems.
        #[arg(long)]
        only_problems: bool,
    },
    /// Print the catalogue as `id<TAB>language<TAB>text` lines (for synthesize.sh).
    ExportText {
        /// The prompt catalogue.
        #[arg(long, default_value = "audio-prompts/prompts.yaml")]
        catalogue: PathBuf,
    },
}

/// Runs one `ivr prompts` subcommand; returns the process exit code.
pub fn run(
    command: PromptsCommand,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<u8> {
    match command {
        PromptsCommand::Check {
            dir,
            catalogue,
            only_problems,
        } => {
            let catalogue = catalogue.unwrap_or_else(|| dir.join("prompts.yaml"));
            check(&dir, &catalogue, only_problems, out, err)
        }
        PromptsCommand::ExportText { catalogue } => export_text(&catalogue, out, err),
    }
}

/// Loads the catalogue, printing every diagnostic to `err` on failure.
fn catalogue(
    path: &Path,
    err: &mut dyn Write,
) -> std::io::Result<Option<BTreeMap<PromptId, PromptEntry>>> {
    match load_catalogue(path) {
        Ok(entries) => Ok(Some(entries)),
        Err(diagnostics) => {
            for d in diagnostics {
                writeln!(err, "{d}")?;
            }
            Ok(None)
        }
    }
}

/// `ivr prompts check`: 0 when every file is fine, 1 on problems, 2 when the catalogue or the
/// folder cannot be read.
pub fn check(
    dir: &Path,
    catalogue_path: &Path,
    only_problems: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<u8> {
    let Some(entries) = catalogue(catalogue_path, err)? else {
        return Ok(2);
    };
    if !dir.is_dir() {
        writeln!(err, "{}: no such prompt folder", dir.display())?;
        return Ok(2);
    }
    let report = check_prompts(dir, &entries, &CheckLimits::default());
    print_report(out, &report, only_problems)?;
    Ok(if report.is_clean() { 0 } else { 1 })
}

fn print_report(
    out: &mut dyn Write,
    report: &CheckReport,
    only_problems: bool,
) -> std::io::Result<()> {
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

/// `ivr prompts export-text`: 0, or 2 when the catalogue cannot be read.
pub fn export_text(
    catalogue_path: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<u8> {
    let Some(entries) = catalogue(catalogue_path, err)? else {
        return Ok(2);
    };
    for (id, entry) in &entries {
        for (language, text) in &entry.text {
            // Tabs and line breaks would break the line format: fold every whitespace run.
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            writeln!(out, "{id}\t{language}\t{text}")?;
        }
    }
    out.flush()?;
    Ok(0)
}
