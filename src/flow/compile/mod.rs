//! The flow compiler: source texts → checked [`FlowSet`] plus every diagnostic at once.
//!
//! Steps: parse every file into a position-keeping tree; read each by its `kind`; check
//! references between files (queues, calendars, tables, subflows, priority classes, numbers);
//! inline subflows into each flow (`outer/inner` ids); check what depends on the flow
//! (languages, prompts in the catalogue, loops that can spin without caller input); build the
//! immutable model with resolved node indices. The model is built only when no error was
//! found. This module reads no files (see [`crate::flow::load()`]) and never panics on input.
//!
//! One file per pass, in the order they run: `sources` reads each file by its kind;
//! `references` checks what graph files name in other files; `inline` inlines subflows;
//! `prompts` checks languages and prompts per flow; `loops` finds loops that never wait for
//! the caller; `test_refs` checks what flow tests name; `build` turns raw nodes into the model,
//! one node kind at a time. This file holds the public types and the driver that runs them.

mod build;
mod inline;
mod loops;
mod prompts;
mod references;
mod sources;
mod test_refs;

#[cfg(test)]
mod fixtures;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use self::build::build_flow;
use self::inline::{expand, resolve_alias};
use self::loops::check_loops;
use self::prompts::check_flow;
use self::references::{Refs, check_numbers, check_references};
use self::sources::{Read, Source, read_file};
use self::test_refs::{TestTargets, check_test_refs};
use crate::flow::catalogue;
use crate::flow::diagnostic::{self, Diagnostic};
use crate::flow::kinds::{ReadQueue, ReadTable};
use crate::flow::model::{Calendar, FlowSet, PromptEntry};
use crate::flow::raw::RawGraph;
use crate::flow::route::canonical_number;
use crate::flow::test_model::TestSuite;
use crate::ids::{Language, PromptId};

/// Engine defaults for nodes that read keys, used when neither node nor flow sets them.
pub mod engine_defaults {
    use std::time::Duration;
    /// First-key timeout.
    pub const TIMEOUT: Duration = Duration::from_secs(5);
    /// Inter-digit timeout.
    pub const INTER_DIGIT_TIMEOUT: Duration = Duration::from_secs(3);
    /// Consecutive failures before `*_exhausted` (the hand-over rule).
    pub const ATTEMPTS: u32 = 3;
    /// Longest call.
    pub const MAX_CALL_DURATION: Duration = Duration::from_secs(3600);
}

/// The prompt catalogue as the compiler sees it.
pub enum CatalogueInput {
    /// Loaded.
    Loaded(BTreeMap<PromptId, PromptEntry>),
    /// Could not be loaded (already reported): prompt checks are skipped.
    Missing,
}

/// "Does audio exist for this prompt in this language?"
pub type AudioCheck<'a> = &'a dyn Fn(&PromptId, &Language) -> bool;

/// What compiling produced.
#[derive(Debug, Default)]
pub struct Compiled {
    /// The flow set, when there was no error.
    pub set: Option<FlowSet>,
    /// Flow test suites read.
    pub tests: Vec<TestSuite>,
    /// Every problem, sorted by file and line.
    pub diagnostics: Vec<Diagnostic>,
}

/// FNV-1a, 64 bit: a small stable digest for version strings (not for security).
pub fn fnv1a(parts: &[&[u8]]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.iter().chain(std::iter::once(&0u8)) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// Compiles source texts (file → text) against a catalogue. Files are processed in path
/// order; every problem in every file is reported.
pub fn compile(
    sources: &[(PathBuf, String)],
    catalogue: &CatalogueInput,
    audio: Option<AudioCheck<'_>>,
) -> Compiled {
    let mut d = Vec::new();
    let mut sources: Vec<&(PathBuf, String)> = sources.iter().collect();
    sources.sort_by(|a, b| a.0.cmp(&b.0));
    let mut read = Read::default();
    for (file, text) in &sources {
        let src = Source { file, text };
        read_file(&src, &mut read, &mut d);
    }
    let queues: BTreeMap<String, &ReadQueue> = read
        .queues
        .iter()
        .map(|(_, q)| (q.queue.id.0.clone(), q))
        .collect();
    let calendars: BTreeMap<String, &Calendar> =
        read.calendars.iter().map(|c| (c.id.0.clone(), c)).collect();
    let tables: BTreeMap<String, &ReadTable> = read
        .tables
        .iter()
        .map(|t| (t.table.id.0.clone(), t))
        .collect();
    let subflows: BTreeMap<String, &RawGraph> = read
        .graphs
        .iter()
        .filter(|g| g.is_subflow)
        .map(|g| (g.id.v.clone(), g))
        .collect();
    let refs = Refs {
        queues: &queues,
        calendars: &calendars,
        tables: &tables,
        subflows: &subflows,
    };
    for g in &read.graphs {
        check_references(g, &refs, &mut d);
    }
    for (file, q) in &read.queues {
        if let Some(ov) = &q.overflow_at
            && !queues.contains_key(&ov.v)
        {
            d.push(
                Diagnostic::error(
                    "unknown-queue",
                    file,
                    ov.line,
                    ov.column,
                    format!("no queue named \"{}\"", ov.v),
                )
                .field("overflow")
                .suggest(&ov.v, queues.keys().map(String::as_str)),
            );
        }
        if let CatalogueInput::Loaded(cat) = catalogue {
            for p in &q.prompts {
                if !cat.contains_key(&p.v) {
                    d.push(
                        Diagnostic::error(
                            "missing-prompt",
                            file,
                            p.line,
                            p.column,
                            format!("prompt \"{}\" is not in the catalogue", p.v),
                        )
                        .suggest(p.v.as_str(), cat.keys().map(PromptId::as_str)),
                    );
                }
            }
        }
    }
    check_numbers(&read.graphs, &mut d);

    // Per flow: inline, check, build.
    let mut flows = Vec::new();
    for g in read.graphs.iter().filter(|g| !g.is_subflow) {
        let mut exp = Vec::new();
        let mut aliases = HashMap::new();
        let mut used = BTreeSet::new();
        expand(
            g,
            "",
            &subflows,
            &mut vec![g.id.v.clone()],
            &BTreeMap::new(),
            &mut exp,
            &mut aliases,
            &mut used,
            &mut d,
        );
        for n in &mut exp {
            for e in &mut n.edges {
                e.target = resolve_alias(&aliases, &e.target);
            }
        }
        let entry = g.entry.as_ref().map(|e| resolve_alias(&aliases, &e.v));
        check_flow(g, &exp, catalogue, audio, &mut d);
        check_loops(&exp, &mut d);
        let mut parts: Vec<&[u8]> = vec![g.file.as_os_str().as_encoded_bytes(), g.text.as_bytes()];
        for s in &used {
            if let Some(sg) = subflows.get(s) {
                parts.push(sg.file.as_os_str().as_encoded_bytes());
                parts.push(sg.text.as_bytes());
            }
        }
        let version = fnv1a(&parts);
        flows.push((g, exp, entry, version));
    }

    // Flow tests.
    let graph_ids: BTreeMap<&str, Vec<&str>> = flows
        .iter()
        .map(|(g, exp, _, _)| (g.id.v.as_str(), exp.iter().map(|n| n.id.as_str()).collect()))
        .collect();
    let flow_numbers: BTreeMap<&str, Vec<String>> = flows
        .iter()
        .map(|(g, ..)| {
            (
                g.id.v.as_str(),
                g.numbers.iter().map(|n| canonical_number(&n.v)).collect(),
            )
        })
        .collect();
    let flags: BTreeSet<&str> = read
        .calendars
        .iter()
        .flat_map(|c| c.emergency_flags.iter().map(String::as_str))
        .collect();
    for (file, _, r) in &read.tests {
        let targets = TestTargets {
            flows: &graph_ids,
            numbers: &flow_numbers,
            flags: &flags,
        };
        check_test_refs(file, r, &targets, &refs, catalogue, &mut d);
    }

    diagnostic::sort(&mut d);
    let tests = read.tests.into_iter().map(|(_, s, _)| s).collect();
    if d.iter().any(Diagnostic::is_error) {
        return Compiled {
            set: None,
            tests,
            diagnostics: d,
        };
    }
    let mut set = FlowSet::default();
    for (g, exp, entry, version) in &flows {
        match build_flow(g, exp, entry.as_deref(), version, &queues) {
            Some(f) => set.flows.push(Arc::new(f)),
            None => d.push(Diagnostic::error(
                "internal",
                &g.file,
                g.id.line,
                g.id.column,
                "the flow passed every check but could not be built; please report this",
            )),
        }
    }
    set.flows.sort_by(|a, b| a.id.cmp(&b.id));
    for (i, f) in set.flows.iter().enumerate() {
        for n in &f.numbers {
            set.by_number
                .insert(n.chars().filter(char::is_ascii_digit).collect(), i);
        }
    }
    for (_, q) in read.queues {
        set.queues.insert(q.queue.id.clone(), Arc::new(q.queue));
    }
    for c in read.calendars {
        set.calendars.insert(c.id.clone(), Arc::new(c));
    }
    for t in read.tables {
        set.tables.insert(t.table.id.clone(), Arc::new(t.table));
    }
    if let CatalogueInput::Loaded(cat) = catalogue {
        set.prompts = cat.clone();
    }
    let parts: Vec<&[u8]> = sources
        .iter()
        .flat_map(|(f, t)| [f.as_os_str().as_encoded_bytes(), t.as_bytes()])
        .collect();
    set.version = fnv1a(&parts);
    let ok = !d.iter().any(Diagnostic::is_error);
    Compiled {
        set: ok.then_some(set),
        tests,
        diagnostics: d,
    }
}

/// Catalogue text already read, for callers that compile from memory.
pub fn catalogue_from_text(path: &Path, text: &str) -> (CatalogueInput, Vec<Diagnostic>) {
    let (entries, diags) = catalogue::parse_catalogue(path, text);
    (CatalogueInput::Loaded(entries), diags)
}

#[cfg(test)]
mod tests {
    use super::fixtures::{HEAD, codes, run};
    use super::*;

    #[test]
    fn exit_outcome_without_exit_key_is_refused() {
        let q = "kind: queue\nid: q\nclasses: [{name: normal}]\n";
        let flow = format!(
            "{HEAD}  a: {{type: enqueue, queue: q, on: {{timeout: end, no_agents: end, full: end, exit: end}}}}\n  end: {{type: hangup}}\n"
        );
        let c = run(&[("f.yaml", &flow), ("q.yaml", q)], None);
        assert_eq!(codes(&c), ["unknown-outcome"]);
        assert_eq!(c.diagnostics[0].field.as_deref(), Some("on.exit"));
    }

    #[test]
    fn fnv_digest_is_stable_and_separates_parts() {
        assert_eq!(fnv1a(&[b"a"]), fnv1a(&[b"a"]));
        assert_ne!(fnv1a(&[b"ab", b"c"]), fnv1a(&[b"a", b"bc"]));
        assert_eq!(fnv1a(&[]), "cbf29ce484222325");
    }
}
