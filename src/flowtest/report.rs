//! Printing a [`TestReport`]: `PASS`/`FAIL` lines with reasons, the summary line and the
//! coverage table as text, or one JSON document for CI tools.
//!
//! Writes only to the writer it is given.

use std::io::{self, Write};

use crate::flowtest::{CaseResult, Mismatch, TestReport};

fn write_case(case: &CaseResult, verbose: bool, out: &mut dyn Write) -> io::Result<()> {
    let verdict = if case.passed() { "PASS" } else { "FAIL" };
    writeln!(out, "{verdict} {} › {}", case.flow, case.name)?;
    if case.passed() && !verbose {
        return Ok(());
    }
    if !case.passed() {
        writeln!(out, "     at {}:{}", case.file.display(), case.line)?;
    }
    for m in &case.mismatches {
        writeln!(out, "   - {m}")?;
        if let Mismatch::Prompts {
            expected, heard, ..
        } = m
        {
            writeln!(out, "       expected: [{}]", expected.join(", "))?;
            writeln!(out, "       heard:    [{}]", heard.join(", "))?;
        }
    }
    if !case.passed() || verbose {
        let path: Vec<&str> = case.path.iter().map(|n| n.as_str()).collect();
        writeln!(out, "     path: {}", path.join(" → "))?;
        match &case.ended {
            Some(how) => writeln!(out, "     ended: {how}")?,
            None => writeln!(out, "     still running at {}", case.node)?,
        }
    }
    if verbose {
        for line in &case.transcript {
            writeln!(out, "       {line}")?;
        }
    }
    Ok(())
}

/// Writes the report as text: one `PASS`/`FAIL` line per case (failures with every reason,
/// the path taken and how the call ended; `verbose` adds the transcript of every case), the
/// summary `N passed, M failed`, then node and edge coverage per flow, and which flows are
/// below `min_percent`.
pub fn write_text(
    report: &TestReport,
    min_percent: f64,
    verbose: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
    for case in &report.cases {
        write_case(case, verbose, out)?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{} passed, {} failed",
        report.passed(),
        report.failed()
    )?;
    writeln!(out)?;
    let width = report
        .coverage
        .iter()
        .map(|c| c.flow.as_str().chars().count())
        .max()
        .unwrap_or(0)
        .max("coverage".len());
    writeln!(
        out,
        "{:width$}  {:>17}  {:>17}  cases",
        "coverage", "nodes", "edges"
    )?;
    for c in &report.coverage {
        writeln!(
            out,
            "{:width$}  {:>9} {:>6.1}%  {:>9} {:>6.1}%  {}",
            c.flow.as_str(),
            format!("{}/{}", c.nodes_visited, c.nodes_total),
            c.node_percent(),
            format!("{}/{}", c.edges_taken, c.edges_total),
            c.edge_percent(),
            c.cases,
        )?;
        if !c.unvisited.is_empty() {
            let nodes: Vec<&str> = c.unvisited.iter().map(|n| n.as_str()).collect();
            writeln!(out, "  unvisited nodes: {}", nodes.join(", "))?;
        }
        if !c.untaken.is_empty() {
            writeln!(out, "  untaken edges: {}", c.untaken.join(", "))?;
        }
    }
    let below = report.below(min_percent);
    if !below.is_empty() {
        writeln!(out)?;
        for c in below {
            writeln!(
                out,
                "FAIL coverage {}: {:.1}% of nodes visited, {min_percent}% required",
                c.flow,
                c.node_percent()
            )?;
        }
    }
    Ok(())
}

/// Writes the report as one JSON document: `passed`, `failed`, `min_coverage`, `ok`, the
/// `cases` (with mismatches, prompts heard, path and transcript) and the `coverage` per flow.
pub fn write_json(report: &TestReport, min_percent: f64, out: &mut dyn Write) -> io::Result<()> {
    let below: Vec<&str> = report
        .below(min_percent)
        .iter()
        .map(|c| c.flow.as_str())
        .collect();
    let doc = serde_json::json!({
        "passed": report.passed(),
        "failed": report.failed(),
        "min_coverage": min_percent,
        "below_min_coverage": below,
        "ok": report.ok(min_percent),
        "cases": report.cases.iter().map(|c| {
            let mut v = serde_json::to_value(c).unwrap_or_default();
            if let Some(obj) = v.as_object_mut() {
                obj.insert("passed".to_owned(), c.passed().into());
                obj.insert(
                    "messages".to_owned(),
                    c.mismatches.iter().map(ToString::to_string).collect::<Vec<_>>().into(),
                );
            }
            v
        }).collect::<Vec<_>>(),
        "coverage": report.coverage.iter().map(|c| {
            let mut v = serde_json::to_value(c).unwrap_or_default();
            if let Some(obj) = v.as_object_mut() {
                obj.insert("node_percent".to_owned(), c.node_percent().into());
                obj.insert("edge_percent".to_owned(), c.edge_percent().into());
            }
            v
        }).collect::<Vec<_>>(),
    });
    let text = serde_json::to_string_pretty(&doc).map_err(io::Error::other)?;
    writeln!(out, "{text}")
}
