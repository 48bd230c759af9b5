//! Test fixtures shared by the compiler's tests: a small prompt catalogue, a flow header and
//! a helper that compiles in-memory files. Test-only; it must not grow test cases.

use std::path::{Path, PathBuf};

use super::{AudioCheck, Compiled, catalogue_from_text, compile};

const CAT: &str = "hi: {en-US: Hi}\nbye: {en-US: Bye}\nhold_music: {en-US: music}\n";

pub(super) fn run(files: &[(&str, &str)], audio: Option<AudioCheck<'_>>) -> Compiled {
    let (cat, diags) = catalogue_from_text(Path::new("prompts.yaml"), CAT);
    assert!(diags.is_empty());
    let sources: Vec<(PathBuf, String)> = files
        .iter()
        .map(|(f, t)| (PathBuf::from(f), (*t).to_owned()))
        .collect();
    compile(&sources, &cat, audio)
}

pub(super) fn codes(c: &Compiled) -> Vec<&'static str> {
    c.diagnostics.iter().map(|d| d.code).collect()
}

pub(super) const HEAD: &str =
    "kind: flow\nid: f\nnumbers: [\"1\"]\nlanguages: [en-US]\nentry: a\nnodes:\n";
