//! The one place the YAML crate (serde-saphyr) is used.
//!
//! Two ways in: [`parse`] deserialises a file straight into any serde type (for modules with
//! their own YAML kinds), and [`parse_tree`] reads a file into a [`Yaml`] tree where every
//! value keeps its line and column, so the flow compiler can report every problem of a file at
//! once instead of stopping at serde's first. Repeated mapping keys are kept by the parser and
//! reported here as `duplicate-key` (a duplicated menu digit must never be silently dropped).
//! This module reads no files; callers pass the text.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{DuplicateKeyPolicy, Spanned};

use crate::flow::diagnostic::Diagnostic;

/// A YAML value with the position it was written at.
#[derive(Clone, Debug, PartialEq)]
pub struct Yaml {
    /// The value.
    pub value: YamlValue,
    /// 1-based line (0 when unknown).
    pub line: usize,
    /// 1-based column (0 when unknown).
    pub column: usize,
}

/// The shapes a YAML value can take.
#[derive(Clone, Debug, PartialEq)]
pub enum YamlValue {
    /// `~`, `null` or nothing.
    Null,
    /// `true` / `false` (strict spellings only; `on`, `yes` stay text).
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// Text, quoted or not (numbers with leading zeros such as `0755` stay text).
    Str(String),
    /// A sequence.
    Seq(Vec<Yaml>),
    /// A mapping, in file order; keys are unique after [`parse_tree`].
    Map(Vec<(Yaml, Yaml)>),
}

impl Yaml {
    /// The text of a scalar (numbers and booleans as written in decimal form); `None` for
    /// null, sequences and mappings.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            YamlValue::Str(s) => Some(s.clone()),
            YamlValue::Int(i) => Some(i.to_string()),
            YamlValue::Float(f) => Some(f.to_string()),
            YamlValue::Bool(b) => Some(b.to_string()),
            YamlValue::Null | YamlValue::Seq(_) | YamlValue::Map(_) => None,
        }
    }

    /// The entries when this is a mapping.
    pub fn as_map(&self) -> Option<&[(Yaml, Yaml)]> {
        match &self.value {
            YamlValue::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The items when this is a sequence.
    pub fn as_seq(&self) -> Option<&[Yaml]> {
        match &self.value {
            YamlValue::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The value under a text key of a mapping.
    pub fn get(&self, key: &str) -> Option<&Yaml> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.scalar_text().as_deref() == Some(key))
            .map(|(_, v)| v)
    }

    /// A word for the value's shape, for messages ("expected text, found a list").
    pub fn shape(&self) -> &'static str {
        match self.value {
            YamlValue::Null => "nothing (null)",
            YamlValue::Bool(_) => "true/false",
            YamlValue::Int(_) | YamlValue::Float(_) => "a number",
            YamlValue::Str(_) => "text",
            YamlValue::Seq(_) => "a list",
            YamlValue::Map(_) => "a mapping",
        }
    }
}

/// Serde glue: a bare value, wrapped in `Spanned` by its parent to keep positions.
struct Bare(YamlValue);

impl<'de> Deserialize<'de> for Bare {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(BareVisitor)
    }
}

fn spanned(s: Spanned<Bare>) -> Yaml {
    Yaml {
        value: s.value.0,
        line: usize::try_from(s.referenced.line()).unwrap_or(0),
        column: usize::try_from(s.referenced.column()).unwrap_or(0),
    }
}

struct BareVisitor;

impl<'de> Visitor<'de> for BareVisitor {
    type Value = Bare;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Bare, E> {
        Ok(Bare(YamlValue::Null))
    }
    fn visit_none<E: de::Error>(self) -> Result<Bare, E> {
        Ok(Bare(YamlValue::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Bare, D::Error> {
        Bare::deserialize(d)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Bare, E> {
        Ok(Bare(YamlValue::Bool(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Bare, E> {
        Ok(Bare(YamlValue::Int(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Bare, E> {
        Ok(Bare(match i64::try_from(v) {
            Ok(i) => YamlValue::Int(i),
            Err(_) => YamlValue::Str(v.to_string()),
        }))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Bare, E> {
        Ok(Bare(YamlValue::Str(v.to_string())))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Bare, E> {
        Ok(Bare(YamlValue::Str(v.to_string())))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Bare, E> {
        Ok(Bare(YamlValue::Float(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Bare, E> {
        Ok(Bare(YamlValue::Str(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Bare, E> {
        Ok(Bare(YamlValue::Str(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Bare, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Bare>>()? {
            items.push(spanned(item));
        }
        Ok(Bare(YamlValue::Seq(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Bare, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<Bare>>()? {
            let value = map.next_value::<Spanned<Bare>>()?;
            entries.push((spanned(key), spanned(value)));
        }
        Ok(Bare(YamlValue::Map(entries)))
    }
}

fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        duplicate_keys: DuplicateKeyPolicy::PassThrough,
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        with_snippet: false,
    }
}

fn syntax_error(file: &Path, e: &serde_saphyr::Error) -> Diagnostic {
    let e = e.without_snippet();
    let (line, column) = e
        .location()
        .map(|l| {
            (
                usize::try_from(l.line()).unwrap_or(0),
                usize::try_from(l.column()).unwrap_or(0),
            )
        })
        .unwrap_or((0, 0));
    let message = e.to_string();
    // The crate appends the position to the text; we print it ourselves.
    let message = match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message,
    };
    Diagnostic::error("yaml-syntax", file, line, column, message)
}

/// Deserialises one YAML document into `T` (serde's first error becomes the diagnostic).
/// Repeated keys are an error, as YAML requires.
#[allow(
    clippy::result_large_err,
    reason = "one diagnostic per file on a cold path; callers collect them into a Vec anyway"
)]
pub fn parse<T: DeserializeOwned>(file: &Path, text: &str) -> Result<T, Diagnostic> {
    let opts = serde_saphyr::options! { with_snippet: false };
    serde_saphyr::from_str_with_options(text, opts).map_err(|e| {
        let mut d = syntax_error(file, &e);
        if d.message.contains("duplicate") {
            d.code = "duplicate-key";
        }
        d
    })
}

/// Reads one YAML document into a position-keeping tree.
///
/// Reports, all at once: a syntax error (then no tree), every repeated key in any mapping
/// (`duplicate-key`; the first entry is kept), and every line that looks like a mapping key
/// `#` but is a comment because `#` was not quoted (`unquoted-hash`).
pub fn parse_tree(file: &Path, text: &str) -> (Option<Yaml>, Vec<Diagnostic>) {
    let mut diags = unquoted_hash_keys(file, text);
    match serde_saphyr::from_str_with_options::<Spanned<Bare>>(text, options()) {
        Ok(root) => {
            let mut root = spanned(root);
            dedup_keys(file, "", &mut root, &mut diags);
            (Some(root), diags)
        }
        Err(e) => {
            diags.push(syntax_error(file, &e));
            (None, diags)
        }
    }
}

/// A key as a field-path segment: `on`, `"1"`.
fn segment(key: &str) -> String {
    let plain = key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && key
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if plain {
        key.to_owned()
    } else {
        format!("\"{key}\"")
    }
}

fn join(path: &str, seg: &str) -> String {
    if path.is_empty() {
        seg.to_owned()
    } else if seg.starts_with('[') {
        format!("{path}{seg}")
    } else {
        format!("{path}.{seg}")
    }
}

fn dedup_keys(file: &Path, path: &str, y: &mut Yaml, diags: &mut Vec<Diagnostic>) {
    match &mut y.value {
        YamlValue::Seq(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                dedup_keys(file, &join(path, &format!("[{i}]")), item, diags);
            }
        }
        YamlValue::Map(entries) => {
            let mut first: HashMap<String, usize> = HashMap::new();
            entries.retain(|(k, _)| {
                let text = k.scalar_text().unwrap_or_default();
                match first.get(&text) {
                    Some(line) => {
                        diags.push(
                            Diagnostic::error(
                                "duplicate-key",
                                file,
                                k.line,
                                k.column,
                                format!("key \"{text}\" appears twice (first on line {line})"),
                            )
                            .field(join(path, &segment(&text)))
                            .help("remove one; YAML keeps only one value per key"),
                        );
                        false
                    }
                    None => {
                        first.insert(text, k.line);
                        true
                    }
                }
            });
            for (k, v) in entries.iter_mut() {
                let seg = segment(&k.scalar_text().unwrap_or_default());
                dedup_keys(file, &join(path, &seg), v, diags);
            }
        }
        _ => {}
    }
}

/// Lines such as `    #: agent` parse as comments, silently dropping a menu option.
fn unquoted_hash_keys(file: &Path, text: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let column = line.len() - trimmed.len() + 1;
        if let Some(rest) = trimmed.strip_prefix('#')
            && rest.trim_start().starts_with(':')
        {
            out.push(
                Diagnostic::error(
                    "unquoted-hash",
                    file,
                    i + 1,
                    column,
                    "an unquoted # starts a YAML comment, so this key is ignored",
                )
                .help("quote it: \"#\""),
            );
        }
    }
    out
}

/// Whether the mapping value written after `key:` on `line` (1-based) is only a comment,
/// as in `terminator: #`, which YAML reads as null.
pub fn value_is_comment(text: &str, line: usize) -> bool {
    let Some(src) = text.lines().nth(line.saturating_sub(1)) else {
        return false;
    };
    // Find the `:` that ends the key, outside quotes.
    let mut quote: Option<char> = None;
    for (i, c) in src.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ':') => return src[i + 1..].trim_start().starts_with('#'),
            (None, '#') => return false,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> (Option<Yaml>, Vec<Diagnostic>) {
        parse_tree(Path::new("t.yaml"), text)
    }

    #[test]
    fn tree_keeps_line_and_column_of_values() {
        let (y, d) = tree("kind: flow\nnodes:\n  a:\n    type: play\n");
        assert!(d.is_empty(), "{d:?}");
        let y = y.expect("tree");
        let ty = y
            .get("nodes")
            .and_then(|n| n.get("a"))
            .and_then(|a| a.get("type"));
        let ty = ty.expect("type");
        assert_eq!(ty.value, YamlValue::Str("play".into()));
        assert_eq!((ty.line, ty.column), (4, 11));
    }

    #[test]
    fn repeated_key_is_reported_with_both_lines() {
        let (y, d) = tree("on:\n  \"1\": a\n  \"2\": b\n  \"1\": c\n");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].code, "duplicate-key");
        assert_eq!((d[0].line, d[0].column), (4, 3));
        assert!(d[0].message.contains("first on line 2"));
        let on = y.expect("tree");
        let on = on.get("on").expect("on");
        assert_eq!(on.as_map().map(<[_]>::len), Some(2));
        assert_eq!(
            on.get("1").and_then(Yaml::scalar_text).as_deref(),
            Some("a")
        );
    }

    #[test]
    fn yaml_words_on_and_yes_and_leading_zeros_stay_text() {
        let (y, _) = tree("on: {yes: 0755}\n");
        let y = y.expect("tree");
        let on = y.get("on").expect("on key is text, not a boolean");
        assert_eq!(
            on.get("yes").expect("yes").value,
            YamlValue::Str("0755".into())
        );
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let (y, d) = tree("a: [1, 2\nb: c\n");
        assert!(y.is_none());
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].code, "yaml-syntax");
        assert!(d[0].line >= 1 && d[0].column >= 1, "{:?}", d[0]);
    }

    #[test]
    fn unquoted_hash_key_line_is_flagged() {
        let (_, d) = tree("on:\n  \"1\": a\n  #: b\n  # a real comment\n");
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].code, d[0].line, d[0].column), ("unquoted-hash", 3, 3));
    }

    #[test]
    fn comment_in_value_position_is_detected() {
        let text = "terminator: #\ncancel: \"#\"\nx: 1 # note\n";
        assert!(value_is_comment(text, 1));
        assert!(!value_is_comment(text, 2));
        assert!(!value_is_comment(text, 3));
    }

    #[test]
    fn typed_parse_rejects_duplicate_keys() {
        #[derive(serde::Deserialize, Debug)]
        struct T {
            #[allow(dead_code)]
            a: u32,
        }
        let e = parse::<T>(Path::new("t.yaml"), "a: 1\na: 2\n").unwrap_err();
        assert_eq!(e.line, 2);
        let ok: T = parse(Path::new("t.yaml"), "a: 1\n").expect("parses");
        assert_eq!(ok.a, 1);
    }
}
