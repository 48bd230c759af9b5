//! Diagnostics: one problem found while loading flows, with where it is and how to fix it.
//!
//! The loader never stops at the first problem; it collects these and returns them all. This
//! module only describes problems; it does not read files or decide what to do about them.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// How bad a problem is: errors block loading, warnings do not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The flows cannot be served.
    Error,
    /// Worth a look; the flows still load.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One problem in the flow files.
///
/// `code` is stable (CI tools and the broken-flow corpus match on it); `message` is for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Stable kebab-case code such as `dangling-edge`.
    pub code: &'static str,
    /// The file, as found under the path given to the loader.
    pub file: PathBuf,
    /// 1-based line (0 when unknown).
    pub line: usize,
    /// 1-based column (0 when unknown).
    pub column: usize,
    /// The node concerned, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The field concerned, as a path such as `on."1"` or `validate.pattern`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
    /// How to fix it, e.g. `did you mean "fraud"?`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at a position.
    pub fn error(
        code: &'static str,
        file: &Path,
        line: usize,
        column: usize,
        message: impl Into<String>,
    ) -> Self {
        Self {
            severity: Severity::Error,
            code,
            file: file.to_path_buf(),
            line,
            column,
            node: None,
            field: None,
            message: message.into(),
            help: None,
        }
    }

    /// A warning at a position.
    pub fn warning(
        code: &'static str,
        file: &Path,
        line: usize,
        column: usize,
        message: impl Into<String>,
    ) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, file, line, column, message)
        }
    }

    /// Names the node concerned.
    #[must_use]
    pub fn node(mut self, node: impl Into<String>) -> Self {
        self.node = Some(node.into());
        self
    }

    /// Names the field concerned.
    #[must_use]
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Adds a hint on how to fix it.
    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds `did you mean "x"?` when one of `candidates` is close to `wrong`.
    #[must_use]
    pub fn suggest<'a>(self, wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Self {
        match did_you_mean(wrong, candidates) {
            Some(best) => self.help(format!("did you mean \"{best}\"?")),
            None => self,
        }
    }

    /// Whether this blocks loading.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The order diagnostics are reported in: by file, line, column, then code.
    pub fn sort_key(&self) -> (&Path, usize, usize, &'static str, &str) {
        (&self.file, self.line, self.column, self.code, &self.message)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}[{}] {}:{}:{}",
            self.severity,
            self.code,
            self.file.display(),
            self.line,
            self.column
        )?;
        match (&self.node, &self.field) {
            (Some(n), Some(fl)) => write!(f, " node {n}, field {fl}")?,
            (Some(n), None) => write!(f, " node {n}")?,
            (None, Some(fl)) => write!(f, " field {fl}")?,
            (None, None) => {}
        }
        write!(f, ": {}", self.message)?;
        if let Some(h) = &self.help {
            write!(f, " — {h}")?;
        }
        Ok(())
    }
}

/// Sorts diagnostics into report order and drops exact repeats.
pub fn sort(diagnostics: &mut Vec<Diagnostic>) {
    diagnostics.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    diagnostics.dedup();
}

/// The candidate closest to `wrong` by edit distance, if it is close enough to be a likely
/// typo (at most a third of its length, rounded up, and at least one edit).
pub fn did_you_mean<'a>(
    wrong: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = wrong.chars().count().div_ceil(3).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != wrong)
        .map(|c| (edit_distance(wrong, c), c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c)
}

/// Levenshtein distance counting a swap of two neighbours as one edit (optimal string
/// alignment), so `fruad` is one edit from `fraud`.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        d[i * w] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(w) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * w + j] + 1)
                .min(d[i * w + j - 1] + 1)
                .min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = best;
        }
    }
    d[a.len() * w + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposed_letters_suggest_the_intended_name() {
        assert_eq!(edit_distance("fruad", "fraud"), 1);
        assert_eq!(did_you_mean("fruad", ["fraud", "payments"]), Some("fraud"));
        assert_eq!(did_you_mean("xyz", ["fraud", "payments"]), None);
    }

    #[test]
    fn display_names_file_position_node_field_and_help() {
        let d = Diagnostic::error(
            "dangling-edge",
            Path::new("flows/x.yaml"),
            12,
            9,
            "no node named \"fruad\"",
        )
        .node("main_menu")
        .field("on.\"1\"")
        .suggest("fruad", ["fraud"]);
        assert_eq!(
            d.to_string(),
            "error[dangling-edge] flows/x.yaml:12:9 node main_menu, field on.\"1\": \
             no node named \"fruad\" — did you mean \"fraud\"?"
        );
    }

    #[test]
    fn serialises_to_json_with_lowercase_severity() {
        let d = Diagnostic::warning("unreachable-node", Path::new("a.yaml"), 3, 3, "m").node("n");
        let v = serde_json::to_value(&d).expect("serialises");
        assert_eq!(v["severity"], "warning");
        assert_eq!(v["code"], "unreachable-node");
        assert_eq!(v["node"], "n");
        assert!(v.get("field").is_none());
    }
}
