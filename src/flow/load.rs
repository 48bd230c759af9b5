//! Loading flows from disk: find the YAML files, read them and the prompt catalogue, compile.
//!
//! The only file access of the flow module. WAV files are never touched here: the caller may
//! pass an audio hook that answers "does audio exist for this prompt and language".

use std::path::{Path, PathBuf};

use crate::flow::catalogue;
use crate::flow::compile::{self, AudioCheck, CatalogueInput};
use crate::flow::diagnostic::{self, Diagnostic};
use crate::flow::model::FlowSet;
use crate::flow::test_model::TestSuite;

/// What to load.
#[derive(Clone, Default)]
pub struct LoadOptions<'a> {
    /// Directories (searched recursively for `*.yaml` / `*.yml`) and single files.
    pub paths: Vec<PathBuf>,
    /// The prompt catalogue; default `<first flows dir>/../audio-prompts/prompts.yaml`.
    pub catalogue: Option<PathBuf>,
    /// Optional "does audio exist" check; when given, missing audio is an error.
    pub audio_exists: Option<AudioCheck<'a>>,
}

impl<'a> LoadOptions<'a> {
    /// Load these paths with the default catalogue and no audio check.
    pub fn new(paths: impl IntoIterator<Item = impl Into<PathBuf>>) -> Self {
        Self {
            paths: paths.into_iter().map(Into::into).collect(),
            catalogue: None,
            audio_exists: None,
        }
    }

    /// The catalogue path that will be used.
    pub fn catalogue_path(&self) -> PathBuf {
        if let Some(c) = &self.catalogue {
            return c.clone();
        }
        let first = self
            .paths
            .first()
            .map_or(Path::new("flows"), PathBuf::as_path);
        let dir = if first.is_file() {
            first
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
        } else {
            first
        };
        dir.join("..").join("audio-prompts").join("prompts.yaml")
    }
}

/// What loading found.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// The compiled flows; `None` when any error was found.
    pub set: Option<FlowSet>,
    /// Flow test suites found.
    pub tests: Vec<TestSuite>,
    /// Errors and warnings, sorted by file and line.
    pub diagnostics: Vec<Diagnostic>,
}

impl LoadReport {
    /// Number of errors.
    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    /// Number of warnings.
    pub fn warnings(&self) -> usize {
        self.diagnostics.len() - self.errors()
    }
}

fn is_yaml(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, d: &mut Vec<Diagnostic>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            d.push(Diagnostic::error(
                "unreadable",
                dir,
                0,
                0,
                format!("cannot read directory: {e}"),
            ));
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        let hidden = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if p.is_dir() {
            walk(&p, out, d);
        } else if is_yaml(&p) {
            out.push(p);
        }
    }
}

/// Finds, reads and compiles every flow file under `opts.paths`, with the catalogue.
/// Never stops at the first problem: every file is read and every diagnostic returned.
pub fn load(opts: &LoadOptions<'_>) -> LoadReport {
    let mut d = Vec::new();
    let mut files = Vec::new();
    let paths = if opts.paths.is_empty() {
        vec![PathBuf::from("flows")]
    } else {
        opts.paths.clone()
    };
    for p in &paths {
        if p.is_dir() {
            walk(p, &mut files, &mut d);
        } else if p.is_file() {
            files.push(p.clone());
        } else {
            d.push(Diagnostic::error(
                "unreadable",
                p,
                0,
                0,
                "no such file or directory",
            ));
        }
    }
    let cat_path = opts.catalogue_path();
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    };
    files.retain(|f| !same(f, &cat_path));
    files.sort();
    files.dedup();
    let mut sources = Vec::new();
    for f in files {
        match std::fs::read_to_string(&f) {
            Ok(t) => sources.push((f, t)),
            Err(e) => d.push(Diagnostic::error(
                "unreadable",
                &f,
                0,
                0,
                format!("cannot read: {e}"),
            )),
        }
    }
    let catalogue = match catalogue::load_catalogue(&cat_path) {
        Ok(c) => CatalogueInput::Loaded(c),
        Err(mut e) => {
            d.append(&mut e);
            CatalogueInput::Missing
        }
    };
    let compiled = compile::compile(&sources, &catalogue, opts.audio_exists);
    d.extend(compiled.diagnostics);
    diagnostic::sort(&mut d);
    let ok = !d.iter().any(Diagnostic::is_error);
    LoadReport {
        set: if ok { compiled.set } else { None },
        tests: compiled.tests,
        diagnostics: d,
    }
}
