//! `ivr validate`, `ivr graph` and `ivr schema`: the flow tools ops run before a change
//! goes live. Thin: loading and checking live in [`crate::flow`].

use std::io::Write;
use std::path::PathBuf;

use crate::flow::{LoadOptions, graph, load, schema};

/// Output format of `ivr validate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// One line per diagnostic, then a summary.
    Text,
    /// One JSON document: `{ "errors": n, "warnings": n, "diagnostics": [...] }`.
    Json,
}

/// Output format of `ivr graph`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    /// Mermaid flowchart.
    Mermaid,
    /// Graphviz dot.
    Dot,
}

/// Validates flows; returns the process exit code (0: no errors, 1: errors).
pub fn validate(
    paths: &[PathBuf],
    prompts: Option<PathBuf>,
    format: ReportFormat,
    out: &mut dyn Write,
) -> std::io::Result<u8> {
    let opts = LoadOptions {
        paths: if paths.is_empty() {
            vec![PathBuf::from("flows")]
        } else {
            paths.to_vec()
        },
        catalogue: prompts,
        audio_exists: None,
    };
    let report = load(&opts);
    let (errors, warnings) = (report.errors(), report.warnings());
    match format {
        ReportFormat::Text => {
            for d in &report.diagnostics {
                writeln!(out, "{d}")?;
            }
            match &report.set {
                Some(set) => writeln!(
                    out,
                    "ok: {} flows, {} queues, {} calendars, {} tables, {} test suites, {} prompts; {warnings} warnings; version {}",
                    set.flows.len(),
                    set.queues.len(),
                    set.calendars.len(),
                    set.tables.len(),
                    report.tests.len(),
                    set.prompts.len(),
                    set.version
                )?,
                None => writeln!(out, "{errors} errors, {warnings} warnings")?,
            }
        }
        ReportFormat::Json => {
            let doc = serde_json::json!({
                "errors": errors,
                "warnings": warnings,
                "version": report.set.as_ref().map(|s| s.version.clone()),
                "diagnostics": report.diagnostics,
            });
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&doc).map_err(std::io::Error::other)?
            )?;
        }
    }
    Ok(u8::from(errors > 0))
}

/// Draws one flow; returns the exit code (1 when the flows do not load or the id is unknown,
/// with the reason on `err`).
pub fn graph(
    flow_id: &str,
    flows: PathBuf,
    format: GraphFormat,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<u8> {
    let report = load(&LoadOptions::new([flows]));
    let Some(set) = report.set else {
        for d in report.diagnostics.iter().filter(|d| d.is_error()) {
            writeln!(err, "{d}")?;
        }
        writeln!(
            err,
            "the flows do not load; fix the errors above (ivr validate)"
        )?;
        return Ok(1);
    };
    let Some(flow) = set.flows.iter().find(|f| f.id.as_str() == flow_id) else {
        let ids: Vec<&str> = set.flows.iter().map(|f| f.id.as_str()).collect();
        writeln!(
            err,
            "no flow named \"{flow_id}\"; flows: {}",
            ids.join(", ")
        )?;
        return Ok(1);
    };
    let text = match format {
        GraphFormat::Mermaid => graph::mermaid(flow),
        GraphFormat::Dot => graph::dot(flow),
    };
    out.write_all(text.as_bytes())?;
    Ok(0)
}

/// Prints the JSON Schema for flow files.
pub fn print_schema(out: &mut dyn Write) -> std::io::Result<u8> {
    let text =
        serde_json::to_string_pretty(&schema::json_schema()).map_err(std::io::Error::other)?;
    writeln!(out, "{text}")?;
    Ok(0)
}
