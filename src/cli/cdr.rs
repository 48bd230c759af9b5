//! `ivr cdr`: read the call-record file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};

use crate::cdr;

/// Default call-record file, relative to the working directory.
pub const DEFAULT_CDR_FILE: &str = "var/calls.sqlite";

/// What to do with the records.
#[derive(Subcommand, Debug)]
pub enum CdrCommand {
    /// Print the newest records, one line each.
    List {
        /// The call-record file.
        #[arg(long, default_value = DEFAULT_CDR_FILE, env = "IVR_CDR")]
        db: PathBuf,
        /// How many records.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Write every record as CSV or JSON to standard output.
    Export {
        /// The call-record file.
        #[arg(long, default_value = DEFAULT_CDR_FILE, env = "IVR_CDR")]
        db: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
        format: ExportFormat,
    },
}

/// Export formats.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ExportFormat {
    /// RFC 4180 CSV with a header line.
    Csv,
    /// A JSON array of records.
    Json,
}

/// Runs the command.
pub fn run(cmd: CdrCommand) -> ExitCode {
    let result = match cmd {
        CdrCommand::List { db, limit } => cdr::list(&db, limit).map(|rows| {
            if rows.is_empty() {
                println!("no call records in {}", db.display());
            }
            for r in rows {
                println!(
                    "{}  {:<28} {:<10} {:<16} {:<10} {:>7}  {} -> {}",
                    r.started_at.format("%Y-%m-%d %H:%M:%S"),
                    r.call_id,
                    r.line,
                    r.outcome.as_deref().unwrap_or("in progress"),
                    r.priority.as_deref().unwrap_or("-"),
                    r.wait_ms
                        .map(|w| format!("{:.1}s", w as f64 / 1000.0))
                        .unwrap_or_else(|| "-".into()),
                    r.path.first().map(String::as_str).unwrap_or("-"),
                    r.path.last().map(String::as_str).unwrap_or("-"),
                );
            }
        }),
        CdrCommand::Export { db, format } => {
            cdr::list(&db, i64::MAX as usize).map(|rows| match format {
                ExportFormat::Csv => print!("{}", cdr::to_csv(&rows)),
                ExportFormat::Json => {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&rows).unwrap_or_else(|_| "[]".into())
                    )
                }
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ivr cdr: {e}");
            ExitCode::from(2)
        }
    }
}
