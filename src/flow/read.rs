//! Typed reading of a position-keeping YAML tree, one diagnostic per problem, never stopping.
//!
//! Each getter returns `None` (after recording why) when a value is missing or malformed, so
//! the compiler can carry on and find the next problem. No I/O here.

use std::path::Path;
use std::time::Duration;

use crate::flow::diagnostic::Diagnostic;
use crate::flow::expr::Expr;
use crate::flow::spec::{self, Field};
use crate::flow::yaml::{self, Yaml, YamlValue};
use crate::ids::Digit;

/// A value with the line and column it was written at.
#[derive(Clone, Debug, PartialEq)]
pub struct Sp<T> {
    /// The value.
    pub v: T,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl<T> Sp<T> {
    /// Wraps a value at the position of `y`.
    pub fn at(v: T, y: &Yaml) -> Self {
        Sp {
            v,
            line: y.line,
            column: y.column,
        }
    }
}

/// Where we are: the file, its text, and the node being read (if any).
#[derive(Clone, Copy)]
pub struct Cx<'a> {
    /// The file.
    pub file: &'a Path,
    /// Its text (for re-reading comments YAML dropped).
    pub text: &'a str,
    /// The node being read.
    pub node: Option<&'a str>,
}

impl<'a> Cx<'a> {
    /// An error at `y`, naming the node and the field path (if not empty).
    pub fn err(
        &self,
        code: &'static str,
        y: &Yaml,
        field: &str,
        msg: impl Into<String>,
    ) -> Diagnostic {
        self.err_at(code, y.line, y.column, field, msg)
    }

    /// An error at a position.
    pub fn err_at(
        &self,
        code: &'static str,
        line: usize,
        column: usize,
        field: &str,
        msg: impl Into<String>,
    ) -> Diagnostic {
        let mut d = Diagnostic::error(code, self.file, line, column, msg);
        if let Some(n) = self.node {
            d = d.node(n);
        }
        if !field.is_empty() {
            d = d.field(field);
        }
        d
    }

    /// The same place, inside a node.
    pub fn in_node(self, node: &'a str) -> Cx<'a> {
        Cx {
            node: Some(node),
            ..self
        }
    }
}

/// A mapping being read against a field table.
pub struct Obj<'a> {
    /// Where.
    pub cx: Cx<'a>,
    /// The mapping itself.
    pub y: &'a Yaml,
    /// Field path prefix such as `validate.`.
    pub prefix: String,
}

/// `"500ms"`, `"5s"`, `"2m"`, `"1h"`; whole numbers only.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let ms = match unit {
        "ms" => n,
        "s" => n.checked_mul(1000)?,
        "m" => n.checked_mul(60_000)?,
        "h" => n.checked_mul(3_600_000)?,
        _ => return None,
    };
    Some(Duration::from_millis(ms))
}

/// Whether a name can be a variable (`vars.<name>`).
pub fn is_var_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl<'a> Obj<'a> {
    /// Starts reading `y` as a mapping with the given fields; reports a non-mapping and every
    /// unknown key (with a "did you mean" from the table). `extra` names keys handled by the
    /// caller (such as `type` and `on` on nodes).
    pub fn new(
        cx: Cx<'a>,
        y: &'a Yaml,
        prefix: &str,
        fields: &[Field],
        extra: &[&'static str],
        d: &mut Vec<Diagnostic>,
    ) -> Option<Obj<'a>> {
        let Some(map) = y.as_map() else {
            let field = prefix.trim_end_matches('.');
            d.push(cx.err(
                "wrong-type",
                y,
                field,
                format!("expected a mapping, found {}", y.shape()),
            ));
            return None;
        };
        for (k, _) in map {
            let key = k.scalar_text().unwrap_or_default();
            if !fields.iter().any(|f| f.name == key) && !extra.contains(&key.as_str()) {
                let names = spec::names(fields).chain(extra.iter().copied());
                d.push(
                    cx.err(
                        "unknown-field",
                        k,
                        &format!("{prefix}{key}"),
                        format!("unknown field \"{key}\""),
                    )
                    .suggest(&key, names),
                );
            }
        }
        for f in fields.iter().filter(|f| f.required) {
            if y.get(f.name).is_none() {
                d.push(cx.err(
                    "missing-field",
                    y,
                    &format!("{prefix}{}", f.name),
                    format!("required field \"{}\" is missing", f.name),
                ));
            }
        }
        Some(Obj {
            cx,
            y,
            prefix: prefix.to_owned(),
        })
    }

    /// The field path of a key.
    pub fn path(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    /// The raw value of a key.
    pub fn get(&self, key: &str) -> Option<&'a Yaml> {
        self.y.get(key)
    }

    /// The position of the key itself (for "missing outcome"-style messages).
    pub fn key_of(&self, key: &str) -> Option<&'a Yaml> {
        self.y
            .as_map()?
            .iter()
            .find(|(k, _)| k.scalar_text().as_deref() == Some(key))
            .map(|(k, _)| k)
    }

    fn wrong(&self, y: &Yaml, key: &str, want: &str, d: &mut Vec<Diagnostic>) {
        d.push(self.cx.err(
            "wrong-type",
            y,
            &self.path(key),
            format!("expected {want}, found {}", y.shape()),
        ));
    }

    /// Any scalar as text.
    pub fn text(&self, key: &str, d: &mut Vec<Diagnostic>) -> Option<Sp<String>> {
        let y = self.get(key)?;
        match y.scalar_text() {
            Some(s) => Some(Sp::at(s, y)),
            None => {
                self.wrong(y, key, "text", d);
                None
            }
        }
    }

    /// A whole number ≥ 0.
    pub fn count(&self, key: &str, d: &mut Vec<Diagnostic>) -> Option<Sp<u64>> {
        let y = self.get(key)?;
        match y.value {
            YamlValue::Int(i) if i >= 0 => Some(Sp::at(i.unsigned_abs(), y)),
            _ => {
                self.wrong(y, key, "a whole number ≥ 0", d);
                None
            }
        }
    }

    /// Any number.
    pub fn number(&self, key: &str, d: &mut Vec<Diagnostic>) -> Option<Sp<f64>> {
        let y = self.get(key)?;
        match y.value {
            #[allow(clippy::cast_precision_loss, reason = "config numbers are small")]
            YamlValue::Int(i) => Some(Sp::at(i as f64, y)),
            YamlValue::Float(x) if x.is_finite() => Some(Sp::at(x, y)),
            _ => {
                self.wrong(y, key, "a number", d);
                None
            }
        }
    }

    /// true/false.
    pub fn bool(&self, key: &str, d: &mut Vec<Diagnostic>) -> Option<Sp<bool>> {
        let y = self.get(key)?;
        match y.value {
            YamlValue::Bool(b) => Some(Sp::at(b, y)),
            _ => {
                self.wrong(y, key, "true or false", d);
                None
            }
        }
    }

    /// A duration string.
    pub fn duration(&self, key: &str, d: &mut Vec<Diagnostic>) -> Option<Sp<Duration>> {
        let y = self.get(key)?;
        let parsed = match &y.value {
            YamlValue::Str(s) => parse_duration(s),
            _ => None,
        };
        if parsed.is_none() {
            let shown = y.scalar_text().unwrap_or_else(|| y.shape().to_owned());
            d.push(
                self.cx
                    .err(
                        "bad-duration",
                        y,
                        &self.path(key),
                        format!("\"{shown}\" is not a duration"),
                    )
                    .help("write a whole number and a unit: \"500ms\", \"5s\", \"2m\", \"1h\""),
            );
        }
        parsed.map(|v| Sp::at(v, y))
    }

    /// A list of texts (a single text counts as a list of one when `single` is true).
    pub fn texts(
        &self,
        key: &str,
        single: bool,
        d: &mut Vec<Diagnostic>,
    ) -> Option<Vec<Sp<String>>> {
        let y = self.get(key)?;
        if single && let Some(s) = y.scalar_text() {
            return Some(vec![Sp::at(s, y)]);
        }
        let Some(items) = y.as_seq() else {
            self.wrong(y, key, "a list", d);
            return None;
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item.scalar_text() {
                Some(s) => out.push(Sp::at(s, item)),
                None => d.push(self.cx.err(
                    "wrong-type",
                    item,
                    &format!("{}[{i}]", self.path(key)),
                    format!("expected text, found {}", item.shape()),
                )),
            }
        }
        Some(out)
    }

    /// One DTMF key; `Some(None)` for `none`. An unquoted `#` (read as a comment, so null) is
    /// reported with "quote it".
    pub fn key(&self, key: &str, d: &mut Vec<Diagnostic>) -> Option<Option<Sp<Digit>>> {
        let y = self.get(key)?;
        if y.value == YamlValue::Null {
            let k = self.key_of(key).unwrap_or(y);
            if yaml::value_is_comment(self.cx.text, k.line) {
                d.push(
                    self.cx
                        .err(
                            "unquoted-hash",
                            y,
                            &self.path(key),
                            "an unquoted # starts a YAML comment, so this value is empty",
                        )
                        .help("quote it: \"#\""),
                );
            } else {
                self.wrong(y, key, "a key such as \"#\"", d);
            }
            return None;
        }
        let s = y.scalar_text().unwrap_or_default();
        if s == "none" {
            return Some(None);
        }
        let mut chars = s.chars();
        match (chars.next().and_then(Digit::new), chars.next()) {
            (Some(dg), None) => Some(Some(Sp::at(dg, y))),
            _ => {
                d.push(self.cx.err(
                    "bad-key",
                    y,
                    &self.path(key),
                    format!("\"{s}\" is not one DTMF key (0-9, *, #, A-D) or none"),
                ));
                None
            }
        }
    }

    /// An expression; parse errors point at the column inside the file.
    pub fn expr(&self, key: &str, d: &mut Vec<Diagnostic>) -> Option<Sp<Expr>> {
        let y = self.get(key)?;
        expr_at(self.cx, y, &self.path(key), d)
    }

    /// A nested mapping read against another table.
    pub fn obj(&self, key: &str, fields: &[Field], d: &mut Vec<Diagnostic>) -> Option<Obj<'a>> {
        let y = self.get(key)?;
        Obj::new(self.cx, y, &format!("{}.", self.path(key)), fields, &[], d)
    }

    /// A mapping's entries.
    pub fn map(&self, key: &str, d: &mut Vec<Diagnostic>) -> Option<&'a [(Yaml, Yaml)]> {
        let y = self.get(key)?;
        match y.as_map() {
            Some(m) => Some(m),
            None => {
                self.wrong(y, key, "a mapping", d);
                None
            }
        }
    }

    /// A list's items.
    pub fn seq(&self, key: &str, d: &mut Vec<Diagnostic>) -> Option<&'a [Yaml]> {
        let y = self.get(key)?;
        match y.as_seq() {
            Some(s) => Some(s),
            None => {
                self.wrong(y, key, "a list", d);
                None
            }
        }
    }
}

/// Parses an expression written at `y`, mapping the expression's column to the file's.
pub fn expr_at(cx: Cx<'_>, y: &Yaml, field: &str, d: &mut Vec<Diagnostic>) -> Option<Sp<Expr>> {
    let src = match &y.value {
        YamlValue::Str(s) => s.clone(),
        YamlValue::Bool(_) | YamlValue::Int(_) | YamlValue::Float(_) => {
            y.scalar_text().unwrap_or_default()
        }
        _ => {
            d.push(cx.err(
                "wrong-type",
                y,
                field,
                format!("expected an expression, found {}", y.shape()),
            ));
            return None;
        }
    };
    match Expr::parse(&src) {
        Ok(e) => Some(Sp::at(e, y)),
        Err(e) => {
            let quoted = cx
                .text
                .lines()
                .nth(y.line.saturating_sub(1))
                .and_then(|l| l.chars().nth(y.column.saturating_sub(1)))
                .is_some_and(|c| c == '"' || c == '\'');
            let column = y.column + e.column - 1 + usize::from(quoted);
            d.push(cx.err_at(
                "bad-expression",
                y.line,
                column,
                field,
                format!("expression \"{src}\": {}", e.reason),
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("5 sec"), None);
        assert_eq!(parse_duration("1.5s"), None);
        assert_eq!(parse_duration("s"), None);
    }

    #[test]
    fn variable_names_are_identifiers() {
        assert!(is_var_name("merchant_id"));
        assert!(!is_var_name("1x"));
        assert!(!is_var_name("a.b"));
    }
}
