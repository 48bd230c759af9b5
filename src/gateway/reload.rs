//! Loading the flow set and the prompts together, validated before anything is swapped, and
//! watching their directories for edits.
//!
//! A reload reads every flow file and the catalogue, loads the WAV prompts for every language
//! the flows declare, then checks each prompt the flows use has audio. Only a fully valid
//! result replaces what calls start on; a broken edit leaves the old set serving and the
//! reasons are kept for `GET /api/flows`, the log and `ivr_flow_reloads_total{result}`. Calls
//! in progress hold their own `Arc<Flow>` and never see a reload.
//!
//! The watcher polls (no inotify dependency, works on network filesystems and through
//! Kubernetes' `..data` symlink swaps): every tick it fingerprints both directories (paths,
//! sizes, modification times, following symlinks) and reloads once a changed fingerprint has
//! stayed the same for the debounce time, so an editor's write-temp-then-rename is one reload.

use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::time::UNIX_EPOCH;

use crate::flow::model::FlowSet;
use crate::gateway::config::ServeConfig;
use crate::ids::Language;
use crate::media::prompts::PromptStore;

/// A validated flow set and the prompts it needs.
pub struct Loaded {
    /// The flows.
    pub flows: FlowSet,
    /// Their audio.
    pub prompts: PromptStore,
}

/// Loads and validates flows and prompts; every problem found on failure, one per line.
pub fn load_all(config: &ServeConfig) -> Result<Loaded, Vec<String>> {
    let mut opts = crate::flow::LoadOptions::new([config.flows_dir.clone()]);
    opts.catalogue = Some(config.catalogue_path());
    let report = crate::flow::load(&opts);
    let Some(flows) = report.set else {
        return Err(report
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(ToString::to_string)
            .collect());
    };
    let mut languages: BTreeSet<Language> = flows
        .flows
        .iter()
        .flat_map(|f| f.languages.iter().cloned())
        .collect();
    languages.insert(Language::new(config.default_language.clone()));
    let languages: Vec<Language> = languages.into_iter().collect();
    let prompts = PromptStore::load(&config.prompts_dir, &languages)
        .map_err(|errors| errors.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    // Second pass: every prompt a flow uses must have audio in each of its languages.
    let check = |p: &crate::ids::PromptId, l: &Language| prompts.has(p, l);
    let mut opts = crate::flow::LoadOptions::new([config.flows_dir.clone()]);
    opts.catalogue = Some(config.catalogue_path());
    opts.audio_exists = Some(&check);
    let report = crate::flow::load(&opts);
    match report.set {
        Some(flows) => Ok(Loaded { flows, prompts }),
        None => Err(report
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(ToString::to_string)
            .collect()),
    }
}

/// A fingerprint of everything under the given directories (paths, sizes, mtimes).
pub fn fingerprint(dirs: &[&Path]) -> u64 {
    let mut entries = Vec::new();
    for dir in dirs {
        walk(dir, 0, &mut entries);
    }
    entries.sort();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    entries.hash(&mut h);
    h.finish()
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<(String, u64, u128)>) {
    if depth > 8 {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in rd.flatten() {
        let path = entry.path();
        // Follows symlinks, so a swapped `..data` link changes what is seen.
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            walk(&path, depth + 1, out);
        } else {
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            out.push((path.to_string_lossy().into_owned(), meta.len(), mtime));
        }
    }
}

/// The debounce logic of the watcher, sans-IO: fed fingerprints with the time they were
/// taken, says when to reload.
#[derive(Debug)]
pub struct Debounce {
    loaded: u64,
    seen: u64,
    since: Option<std::time::Instant>,
    quiet: std::time::Duration,
}

impl Debounce {
    /// Starts from the fingerprint of what is loaded now.
    pub fn new(loaded: u64, quiet: std::time::Duration) -> Self {
        Self {
            loaded,
            seen: loaded,
            since: None,
            quiet,
        }
    }

    /// Feeds one observation; true when a reload should run now.
    pub fn observe(&mut self, fp: u64, now: std::time::Instant) -> bool {
        if fp != self.seen {
            self.seen = fp;
            self.since = Some(now);
            return false;
        }
        match self.since {
            Some(t) if fp != self.loaded && now.saturating_duration_since(t) >= self.quiet => {
                self.loaded = fp;
                self.since = None;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn a_burst_of_changes_is_one_reload_after_it_goes_quiet() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut d = Debounce::new(1, ms(500));
        assert!(!d.observe(1, t0));
        assert!(!d.observe(2, t0 + ms(100)), "temp file written");
        assert!(!d.observe(3, t0 + ms(200)), "renamed over the original");
        assert!(!d.observe(3, t0 + ms(600)), "not quiet long enough yet");
        assert!(d.observe(3, t0 + ms(700)));
        assert!(!d.observe(3, t0 + ms(1700)), "no second reload");
    }

    #[test]
    fn a_change_undone_before_it_settles_is_no_reload() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut d = Debounce::new(1, ms(500));
        assert!(!d.observe(2, t0));
        assert!(!d.observe(1, t0 + ms(100)));
        assert!(!d.observe(1, t0 + ms(2000)));
    }

    #[test]
    fn fingerprint_sees_an_edit_and_a_rename() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.yaml");
        std::fs::write(&f, "one").unwrap();
        let a = fingerprint(&[dir.path()]);
        assert_eq!(a, fingerprint(&[dir.path()]));
        std::fs::write(dir.path().join("b.tmp"), "two!").unwrap();
        std::fs::rename(dir.path().join("b.tmp"), &f).unwrap();
        assert_ne!(a, fingerprint(&[dir.path()]));
    }
}
