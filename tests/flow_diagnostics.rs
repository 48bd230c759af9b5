//! The broken-flow corpus: every directory under `tests/broken-flows/` holds the YAML files of
//! one mistake and an `expected.txt` with the exact diagnostics (code, file, line, column,
//! node, field, message) the loader must report, one per line, paths relative to the case.
//! All cases run; every mismatch is reported before the test fails.

use std::path::{Path, PathBuf};

use ivr::flow::{LoadOptions, load};

const CORPUS: &str = "tests/broken-flows";

fn cases() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(CORPUS)
        .expect("corpus directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("expected.txt").is_file())
        .collect();
    out.sort();
    out
}

fn actual(case: &Path) -> Vec<String> {
    let report = load(&LoadOptions::new([case]));
    let prefix = format!("{}/", case.display());
    report
        .diagnostics
        .iter()
        .map(|d| d.to_string().replacen(&prefix, "", 1))
        .collect()
}

fn expected(case: &Path) -> Vec<String> {
    std::fs::read_to_string(case.join("expected.txt"))
        .expect("expected.txt")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_broken_flow_case_reports_exactly_its_expected_diagnostics() {
    let mut failures = Vec::new();
    for case in cases() {
        let (want, got) = (expected(&case), actual(&case));
        if want != got {
            failures.push(format!(
                "{}:\n  expected:\n    {}\n  got:\n    {}",
                case.display(),
                want.join("\n    "),
                got.join("\n    ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn corpus_covers_the_required_mistakes() {
    let names: Vec<String> = cases()
        .iter()
        .filter_map(|c| c.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    for required in [
        "dangling-edge",
        "unreachable-node",
        "duplicate-digit",
        "unquoted-hash",
        "unknown-field",
        "missing-prompt",
        "calendar-without-timezone",
        "loop-without-input",
        "number-claimed-twice",
        "missing-outcome",
        "unknown-queue",
        "unknown-priority-class",
        "bad-duration",
        "bad-regex",
        "bad-expression",
        "terminator-conflict",
        "subflow-recursion",
        "yaml-syntax",
        "several-files",
    ] {
        assert!(
            names.iter().any(|n| n == required),
            "no corpus case {required}"
        );
    }
}

#[test]
fn each_case_with_an_error_yields_no_flow_set() {
    for case in cases() {
        let report = load(&LoadOptions::new([&case]));
        let has_error = report.diagnostics.iter().any(|d| d.is_error());
        assert_eq!(report.set.is_none(), has_error, "{}", case.display());
    }
}

#[test]
fn errors_in_several_files_are_all_reported_in_one_run() {
    let got = actual(Path::new("tests/broken-flows/several-files"));
    let files: std::collections::BTreeSet<&str> = got
        .iter()
        .filter_map(|l| l.split_whitespace().nth(1)?.split(':').next())
        .collect();
    assert!(
        files.len() >= 4,
        "problems from several files expected, got {got:#?}"
    );
}
