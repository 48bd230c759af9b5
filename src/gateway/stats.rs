//! Counters and gauges of the gateway shell, rendered in the Prometheus text format on the
//! admin listener's `/metrics` (the telemetry module may take the route over and re-export
//! these).
//!
//! Label values come only from bounded sets: dialect names, reason labels of typed errors,
//! call outcomes from flow `hangup` reasons. Never a call id, caller number or digits.
//! Critical sections are tiny and never span an `.await`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

/// A counter's name and label pairs.
type Key = (&'static str, Vec<(&'static str, String)>);

/// The gateway's metrics.
#[derive(Debug, Default)]
pub struct Stats {
    counters: Mutex<BTreeMap<Key, u64>>,
    /// Calls with an open media stream.
    pub calls_active: AtomicI64,
    /// 1 while draining.
    pub draining: AtomicI64,
}

/// Help text of every counter, so `/metrics` documents itself.
const HELP: &[(&str, &str)] = &[
    (
        "ivr_ws_handshakes_rejected_total",
        "Upgrades refused before a call existed, by reason.",
    ),
    (
        "ivr_ws_protocol_errors_total",
        "Malformed or late gateway traffic, by gateway and reason.",
    ),
    (
        "ivr_calls_started_total",
        "Streams accepted after authentication and start.",
    ),
    (
        "ivr_calls_ended_total",
        "Calls that left the engine, by outcome.",
    ),
    (
        "ivr_dtmf_digits_total",
        "Digits accepted after de-duplication, by source.",
    ),
    (
        "ivr_dtmf_duplicates_total",
        "Digits dropped as the second report of one key press.",
    ),
    ("ivr_marks_total", "Mark echoes by what they meant."),
    ("ivr_prompt_playbacks_total", "Prompt playbacks by result."),
    ("ivr_flow_reloads_total", "Flow reload attempts by result."),
    (
        "ivr_media_frames_dropped_total",
        "Inbound frames discarded, by reason.",
    ),
    (
        "ivr_media_frames_late_total",
        "Inbound frames older than audio already passed on (reorder window exceeded).",
    ),
];

impl Stats {
    /// Adds one to a counter.
    pub fn inc(&self, name: &'static str, labels: &[(&'static str, &str)]) {
        let key = (
            name,
            labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        );
        if let Ok(mut c) = self.counters.lock() {
            *c.entry(key).or_insert(0) += 1;
        }
    }

    /// A counter's value (0 when never incremented).
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let Ok(c) = self.counters.lock() else {
            return 0;
        };
        c.iter()
            .find(|((n, l), _)| {
                *n == name
                    && l.len() == labels.len()
                    && l.iter()
                        .zip(labels)
                        .all(|((k, v), (k2, v2))| k == k2 && v == v2)
            })
            .map_or(0, |(_, v)| *v)
    }

    /// The Prometheus text exposition (format 0.0.4) of everything.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let snapshot: Vec<_> = match self.counters.lock() {
            Ok(c) => c.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            Err(_) => Vec::new(),
        };
        let mut last = "";
        for ((name, labels), value) in &snapshot {
            if *name != last {
                if let Some((_, help)) = HELP.iter().find(|(n, _)| n == name) {
                    let _ = writeln!(out, "# HELP {name} {help}");
                }
                let _ = writeln!(out, "# TYPE {name} counter");
                last = name;
            }
            let body: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            if body.is_empty() {
                let _ = writeln!(out, "{name} {value}");
            } else {
                let _ = writeln!(out, "{name}{{{}}} {value}", body.join(","));
            }
        }
        let _ = writeln!(
            out,
            "# HELP ivr_calls_active Calls with an open media stream.\n# TYPE ivr_calls_active gauge\nivr_calls_active {}",
            self.calls_active.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP ivr_draining 1 while refusing new calls.\n# TYPE ivr_draining gauge\nivr_draining {}",
            self.draining.load(Ordering::Relaxed)
        );
        out
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_as_prometheus_text() {
        let s = Stats::default();
        s.inc(
            "ivr_ws_handshakes_rejected_total",
            &[("reason", "bad_signature")],
        );
        s.inc(
            "ivr_ws_handshakes_rejected_total",
            &[("reason", "bad_signature")],
        );
        s.inc(
            "ivr_ws_handshakes_rejected_total",
            &[("reason", "over_capacity")],
        );
        assert_eq!(
            s.get(
                "ivr_ws_handshakes_rejected_total",
                &[("reason", "bad_signature")]
            ),
            2
        );
        let text = s.render();
        assert!(text.contains("# TYPE ivr_ws_handshakes_rejected_total counter"));
        assert!(text.contains("ivr_ws_handshakes_rejected_total{reason=\"bad_signature\"} 2"));
        assert!(text.contains("ivr_ws_handshakes_rejected_total{reason=\"over_capacity\"} 1"));
        assert!(text.contains("ivr_calls_active 0"));
        assert_eq!(
            text.matches("# TYPE ivr_ws_handshakes_rejected_total")
                .count(),
            1
        );
    }
}
