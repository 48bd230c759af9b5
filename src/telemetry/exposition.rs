//! Reads a Prometheus text exposition (format 0.0.4) back into samples.
//!
//! For tests, the load generator and `ivr healthcheck`-style tools that check what `/metrics`
//! really serves. It parses what the format allows (`# HELP`/`# TYPE` lines, labels with
//! escaped values, `+Inf`/`NaN` values, optional timestamps) and refuses anything else with the
//! line number, so a malformed exposition fails loudly instead of reading as zero.

use std::collections::BTreeMap;

use thiserror::Error;

/// A line that is not valid text exposition.
#[derive(Debug, Error, PartialEq)]
#[error("exposition line {line}: {reason}: {text}")]
pub struct ExpositionError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: &'static str,
    /// The line, cut to 120 characters.
    pub text: String,
}

/// One sample: a series name, its labels and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The series name (`ivr_queue_depth`, `ivr_queue_wait_seconds_bucket`).
    pub name: String,
    /// Label pairs, sorted by name.
    pub labels: BTreeMap<String, String>,
    /// The value.
    pub value: f64,
}

/// A parsed exposition.
#[derive(Clone, Debug, Default)]
pub struct Exposition {
    /// Every sample, in the order served.
    pub samples: Vec<Sample>,
    /// `# TYPE` of each metric family.
    pub types: BTreeMap<String, String>,
    /// `# HELP` of each metric family.
    pub help: BTreeMap<String, String>,
}

impl Exposition {
    /// Parses a whole exposition.
    pub fn parse(text: &str) -> Result<Exposition, ExpositionError> {
        let mut out = Exposition::default();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim_end();
            let err = |reason| ExpositionError {
                line: i + 1,
                reason,
                text: line.chars().take(120).collect(),
            };
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix('#') {
                let rest = rest.trim_start();
                if let Some(r) = rest.strip_prefix("TYPE ") {
                    let (name, kind) = r
                        .split_once(' ')
                        .ok_or_else(|| err("TYPE without a type"))?;
                    if !matches!(
                        kind,
                        "counter" | "gauge" | "histogram" | "summary" | "untyped"
                    ) {
                        return Err(err("unknown TYPE"));
                    }
                    out.types.insert(name.to_owned(), kind.to_owned());
                } else if let Some(r) = rest.strip_prefix("HELP ") {
                    let (name, help) = r.split_once(' ').unwrap_or((r, ""));
                    out.help.insert(name.to_owned(), help.to_owned());
                }
                continue;
            }
            out.samples.push(parse_sample(line).map_err(err)?);
        }
        Ok(out)
    }

    /// The value of the series with exactly these labels, if served.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| {
                s.name == name
                    && s.labels.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).is_some_and(|x| x == v))
            })
            .map(|s| s.value)
    }

    /// The sum over every series of `name` whose labels include these pairs.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|s| s.value).sum()
    }

    /// Every series of `name` whose labels include these pairs.
    pub fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).is_some_and(|x| x == v))
        })
    }
}

fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn parse_value(s: &str) -> Option<f64> {
    match s {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

fn parse_sample(line: &str) -> Result<Sample, &'static str> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if !valid_name(name) {
        return Err("bad metric name");
    }
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        loop {
            // Label name up to '='.
            while chars.peek().is_some_and(|(_, c)| *c == ' ' || *c == ',') {
                chars.next();
            }
            let Some(&(start, c)) = chars.peek() else {
                return Err("unclosed label set");
            };
            if c == '}' {
                chars.next();
                rest = &body[start + 1..];
                break;
            }
            let mut eq = None;
            for (i, c) in chars.by_ref() {
                if c == '=' {
                    eq = Some(i);
                    break;
                }
            }
            let eq = eq.ok_or("label without '='")?;
            let key = body[start..eq].trim();
            if !valid_name(key) {
                return Err("bad label name");
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err("label value not quoted");
            }
            let mut value = String::new();
            let mut closed = false;
            while let Some((_, c)) = chars.next() {
                match c {
                    '\\' => match chars.next().map(|(_, c)| c) {
                        Some('n') => value.push('\n'),
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        _ => return Err("bad escape in label value"),
                    },
                    '"' => {
                        closed = true;
                        break;
                    }
                    c => value.push(c),
                }
            }
            if !closed {
                return Err("unterminated label value");
            }
            if labels.insert(key.to_owned(), value).is_some() {
                return Err("repeated label");
            }
        }
    }
    let mut fields = rest.split_whitespace();
    let value = fields
        .next()
        .and_then(parse_value)
        .ok_or("bad or missing value")?;
    if let Some(ts) = fields.next()
        && ts.parse::<i64>().is_err()
    {
        return Err("bad timestamp");
    }
    if fields.next().is_some() {
        return Err("trailing text");
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_with_escaped_labels_and_infinities_parse() {
        let text = "# HELP x_total Things.\n# TYPE x_total counter\nx_total{a=\"q\\\"u\\\\o\\nte\",b=\"2\"} 3\nh_bucket{le=\"+Inf\"} 7 1700000000000\nup 1\n";
        let e = Exposition::parse(text).unwrap();
        assert_eq!(e.types["x_total"], "counter");
        assert_eq!(e.help["x_total"], "Things.");
        assert_eq!(
            e.get("x_total", &[("a", "q\"u\\o\nte"), ("b", "2")]),
            Some(3.0)
        );
        assert_eq!(e.get("h_bucket", &[("le", "+Inf")]), Some(7.0));
        assert_eq!(e.get("up", &[]), Some(1.0));
        assert_eq!(e.sum("x_total", &[("b", "2")]), 3.0);
        assert_eq!(e.get("x_total", &[("b", "2")]), None);
    }

    #[test]
    fn malformed_lines_are_refused_with_their_number() {
        for (text, reason) in [
            ("ok 1\nbad{a=\"x} 1\n", "unterminated label value"),
            ("ok 1\n9bad 1\n", "bad metric name"),
            ("ok 1\nx{a=b} 1\n", "label value not quoted"),
            ("ok 1\nx one\n", "bad or missing value"),
            ("ok 1\n# TYPE x widget\n", "unknown TYPE"),
        ] {
            let e = Exposition::parse(text).unwrap_err();
            assert_eq!((e.line, e.reason), (2, reason), "{text}");
        }
    }

    #[test]
    fn the_engines_own_exposition_parses_back() {
        let m = crate::telemetry::Metrics::new().unwrap();
        m.dtmf_digits_total.with_label_values(&["event"]).inc_by(2);
        let e = Exposition::parse(&m.render()).unwrap();
        assert_eq!(
            e.get("ivr_dtmf_digits_total", &[("source", "event")]),
            Some(2.0)
        );
        assert_eq!(e.types["ivr_frame_handling_seconds"], "histogram");
    }
}
