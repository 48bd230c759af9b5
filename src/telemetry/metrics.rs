//! The metric catalogue: every series the engine exports, created up front.
//!
//! Names follow Prometheus conventions (`ivr_` prefix, base units, `_total` counters). Series
//! whose label values are known at start-up (flows and their nodes, queues and their classes,
//! agent states, outcomes, reasons) are created at zero, so dashboards and alerts see them
//! before the first call.

use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use thiserror::Error;

use crate::flow::model::FlowSet;

/// Buckets for queue waits, in seconds: dense around common service-level thresholds
/// (10 s, 20 s, 30 s, 60 s) so "answered within N seconds" reads straight off a bucket.
pub const WAIT_BUCKETS: &[f64] = &[
    5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0, 900.0, 1800.0,
];

/// Buckets for per-frame work, in seconds (50 µs … 20 ms: one frame period).
const FRAME_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02,
];

/// Buckets for call durations, in seconds.
const CALL_BUCKETS: &[f64] = &[
    10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0,
];

/// How a call ended, as a metric label: the flow ended it (`self_service`), it went to an
/// agent (`agent`) or a number (`transfer`), the caller hung up, it ran past its maximum
/// duration, nobody serves the number dialled, the gateway misbehaved (`error`), or the
/// engine shut down under it (`drained`).
pub const CALL_OUTCOMES: &[&str] = &[
    "self_service",
    "agent",
    "transfer",
    "caller_hung_up",
    "max_duration",
    "not_in_service",
    "error",
    "drained",
];

/// The `line` label of calls to a number no flow claims.
pub const UNROUTED_LINE: &str = "none";

/// Where a digit came from.
pub const DIGIT_SOURCES: &[&str] = &["inband", "event"];

/// What became of a prompt playback: heard to the end, stopped by the flow (barge-in, an agent
/// answering), cut by the caller hanging up, or skipped because its audio is missing.
pub const PLAYBACK_RESULTS: &[&str] = &["completed", "interrupted", "hung_up", "missing"];

/// Why an upgrade was refused before any call existed.
pub const HANDSHAKE_REASONS: &[&str] = &[
    "missing_signature",
    "bad_signature",
    "bad_token",
    "bad_request",
    "over_capacity",
    "draining",
];

/// What a mark echoed by the gateway meant.
pub const MARK_OUTCOMES: &[&str] = &["played", "timed_out", "cleared", "unknown"];

/// Gateway dialects, as the `dialect` label.
pub const DIALECTS: &[&str] = &["twilio", "asterisk"];

/// Agent states as labels.
pub const AGENT_STATES: &[&str] = &[
    "logged_out",
    "ready",
    "offered",
    "busy",
    "wrap_up",
    "not_ready",
];

/// Menu failure kinds.
pub const MENU_FAILURES: &[&str] = &["invalid", "no_input"];

/// Queue exits counted per queue and class.
pub const QUEUE_RESULTS: &[&str] = &[
    "answered",
    "abandoned",
    "overflowed",
    "timed_out",
    "exited",
    "callback",
    "rejected",
];

/// A malformed-input class, as the `kind` label of `ivr_protocol_errors_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolErrorKind {
    /// Text that is not JSON, or JSON of the wrong shape.
    Json,
    /// A payload that is not valid base64.
    Base64,
    /// A binary frame of the wrong size or codec.
    Binary,
    /// Messages in an order the protocol does not allow.
    Sequence,
    /// A message larger than the configured maximum.
    TooLarge,
    /// No `start` within the start timeout, or no media within the idle timeout.
    Timeout,
    /// The peer stopped reading and its send buffer filled.
    SlowConsumer,
}

impl ProtocolErrorKind {
    /// Every kind, for pre-creating series.
    pub const ALL: [ProtocolErrorKind; 7] = [
        Self::Json,
        Self::Base64,
        Self::Binary,
        Self::Sequence,
        Self::TooLarge,
        Self::Timeout,
        Self::SlowConsumer,
    ];

    /// The kind of a gateway-shell reason label (`bad_json`, `oversize`, `media_timeout`, ...).
    /// Reasons it does not know are sequence errors.
    pub fn of_reason(reason: &str) -> ProtocolErrorKind {
        match reason {
            "bad_json" | "missing_field" | "bad_value" | "unknown_control" | "bad_utf8" => {
                Self::Json
            }
            "bad_base64" => Self::Base64,
            "unexpected_binary" | "unsupported_format" | "bad_frame" | "odd_length" => Self::Binary,
            "oversize" => Self::TooLarge,
            "start_timeout" | "media_timeout" => Self::Timeout,
            "slow_consumer" => Self::SlowConsumer,
            _ => Self::Sequence,
        }
    }

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Base64 => "base64",
            Self::Binary => "binary",
            Self::Sequence => "sequence",
            Self::TooLarge => "too_large",
            Self::Timeout => "timeout",
            Self::SlowConsumer => "slow_consumer",
        }
    }
}

/// Building the catalogue failed (a programming error: two metrics with one name).
#[derive(Debug, Error)]
pub enum MetricsError {
    /// The prometheus crate refused a metric.
    #[error("metric registration failed: {0}")]
    Prometheus(#[from] prometheus::Error),
}

/// Every metric the engine exports, on its own registry.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Calls in progress, by line.
    pub calls_active: IntGaugeVec,
    /// Streams accepted (authenticated, `start` received), by dialect.
    pub calls_started_total: IntCounterVec,
    /// 1 while draining: new calls refused, calls in progress finishing.
    pub draining: IntGauge,
    /// Calls ended, by line and outcome.
    pub calls_total: IntCounterVec,
    /// Call durations, by line.
    pub call_duration_seconds: HistogramVec,
    /// Calls currently at each node (the IVR's live picture), by flow and node.
    pub calls_in_node: IntGaugeVec,
    /// Node entries, by flow and node.
    pub node_entries_total: IntCounterVec,
    /// Menu and collect failures, by flow, node and kind.
    pub menu_failures_total: IntCounterVec,
    /// Digits taken, by source (in-band detector or gateway event).
    pub dtmf_digits_total: IntCounterVec,
    /// Digits dropped as the second report of one key press (tone and event both heard).
    pub dtmf_duplicates_total: IntCounter,
    /// Mark echoes from the gateway, by what they meant.
    pub marks_total: IntCounterVec,
    /// Inbound frames dropped, by reason.
    pub media_frames_dropped_total: IntCounterVec,
    /// Inbound frames that arrived after later audio had been passed on.
    pub media_frames_late_total: IntCounter,
    /// Prompt playbacks, by result.
    pub prompt_playbacks_total: IntCounterVec,
    /// Upgrades refused before a call existed, by reason.
    pub handshakes_rejected_total: IntCounterVec,
    /// Calls ended by malformed input, by dialect and kind.
    pub protocol_errors_total: IntCounterVec,
    /// Inputs dropped as harmless races (stale playback, digit while bridged, ...).
    pub call_inputs_dropped_total: IntCounterVec,
    /// Time to handle one inbound media frame (decode, detect, drive the call).
    pub frame_handling_seconds: Histogram,
    /// Flow reloads, by result.
    pub flow_reloads_total: IntCounterVec,
    /// 1 while the last reload attempt failed and the previous flows are still serving.
    pub flow_reload_failed: IntGauge,
    /// Call-record writes, by result.
    pub cdr_writes_total: IntCounterVec,
    /// Callers waiting, by queue and priority class.
    pub queue_depth: IntGaugeVec,
    /// The longest current wait, by queue, in seconds.
    pub queue_oldest_wait_seconds: GaugeVec,
    /// Callers who joined, by queue and class.
    pub queue_entered_total: IntCounterVec,
    /// Callers who left the queue, by queue, class and result.
    pub queue_left_total: IntCounterVec,
    /// Time waited until answered, by queue and class.
    pub queue_wait_seconds: HistogramVec,
    /// Share of answered calls answered within the queue's service-level threshold.
    pub queue_service_level_ratio: GaugeVec,
    /// Agents, by queue and state.
    pub agents: IntGaugeVec,
    /// Seconds the engine has been up.
    pub uptime_seconds: Gauge,
}

fn counter(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntCounterVec, MetricsError> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}

fn gauge(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntGaugeVec, MetricsError> {
    let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(g.clone()))?;
    Ok(g)
}

fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> Result<HistogramVec, MetricsError> {
    let h = HistogramVec::new(
        HistogramOpts::new(name, help).buckets(buckets.to_vec()),
        labels,
    )?;
    registry.register(Box::new(h.clone()))?;
    Ok(h)
}

impl Metrics {
    /// Creates the catalogue with every label-free series and every fixed-set series at zero.
    pub fn new() -> Result<Metrics, MetricsError> {
        let r = Registry::new();
        let frame = Histogram::with_opts(
            HistogramOpts::new(
                "ivr_frame_handling_seconds",
                "Time to handle one inbound media frame: decode, DTMF detection, call input",
            )
            .buckets(FRAME_BUCKETS.to_vec()),
        )?;
        r.register(Box::new(frame.clone()))?;
        let reload_failed = IntGauge::new(
            "ivr_flow_reload_failed",
            "1 while the last flow reload failed and the previous flows serve",
        )?;
        r.register(Box::new(reload_failed.clone()))?;
        let uptime = Gauge::new("ivr_uptime_seconds", "Seconds since the engine started")?;
        r.register(Box::new(uptime.clone()))?;
        let draining = IntGauge::new(
            "ivr_draining",
            "1 while the engine refuses new calls and lets calls in progress finish",
        )?;
        r.register(Box::new(draining.clone()))?;
        let duplicates = IntCounter::new(
            "ivr_dtmf_duplicates_total",
            "Digits dropped as the second report of one key press",
        )?;
        r.register(Box::new(duplicates.clone()))?;
        let late = IntCounter::new(
            "ivr_media_frames_late_total",
            "Inbound frames older than audio already passed on (reorder window exceeded)",
        )?;
        r.register(Box::new(late.clone()))?;
        let m = Metrics {
            calls_active: gauge(&r, "ivr_calls_active", "Calls in progress", &["line"])?,
            calls_started_total: counter(
                &r,
                "ivr_calls_started_total",
                "Media streams accepted after authentication and start",
                &["dialect"],
            )?,
            draining,
            calls_total: counter(
                &r,
                "ivr_calls_total",
                "Calls ended, by outcome",
                &["line", "outcome"],
            )?,
            call_duration_seconds: histogram(
                &r,
                "ivr_call_duration_seconds",
                "Call durations",
                &["line"],
                CALL_BUCKETS,
            )?,
            calls_in_node: gauge(
                &r,
                "ivr_calls_in_node",
                "Calls currently at each flow node",
                &["flow", "node"],
            )?,
            node_entries_total: counter(
                &r,
                "ivr_node_entries_total",
                "Flow node entries",
                &["flow", "node"],
            )?,
            menu_failures_total: counter(
                &r,
                "ivr_menu_failures_total",
                "Invalid or missing input at menus and collects",
                &["flow", "node", "kind"],
            )?,
            dtmf_digits_total: counter(
                &r,
                "ivr_dtmf_digits_total",
                "Digits taken, by source",
                &["source"],
            )?,
            dtmf_duplicates_total: duplicates,
            marks_total: counter(
                &r,
                "ivr_marks_total",
                "Mark echoes from the gateway, by what they meant",
                &["outcome"],
            )?,
            media_frames_dropped_total: counter(
                &r,
                "ivr_media_frames_dropped_total",
                "Inbound media frames discarded, by reason",
                &["reason"],
            )?,
            media_frames_late_total: late,
            prompt_playbacks_total: counter(
                &r,
                "ivr_prompt_playbacks_total",
                "Prompt playbacks, by result",
                &["result"],
            )?,
            handshakes_rejected_total: counter(
                &r,
                "ivr_handshakes_rejected_total",
                "Media WebSocket upgrades refused, by reason",
                &["reason"],
            )?,
            protocol_errors_total: counter(
                &r,
                "ivr_protocol_errors_total",
                "Calls ended by malformed gateway input",
                &["dialect", "kind"],
            )?,
            call_inputs_dropped_total: counter(
                &r,
                "ivr_call_inputs_dropped_total",
                "Inputs dropped as harmless races",
                &["line"],
            )?,
            frame_handling_seconds: frame,
            flow_reloads_total: counter(
                &r,
                "ivr_flow_reloads_total",
                "Flow reloads, by result",
                &["result"],
            )?,
            flow_reload_failed: reload_failed,
            cdr_writes_total: counter(
                &r,
                "ivr_cdr_writes_total",
                "Call-record writes, by result",
                &["result"],
            )?,
            queue_depth: gauge(
                &r,
                "ivr_queue_depth",
                "Callers waiting",
                &["queue", "class"],
            )?,
            queue_oldest_wait_seconds: {
                let g = GaugeVec::new(
                    Opts::new(
                        "ivr_queue_oldest_wait_seconds",
                        "Longest current wait in the queue",
                    ),
                    &["queue"],
                )?;
                r.register(Box::new(g.clone()))?;
                g
            },
            queue_entered_total: counter(
                &r,
                "ivr_queue_entered_total",
                "Callers who joined a queue",
                &["queue", "class"],
            )?,
            queue_left_total: counter(
                &r,
                "ivr_queue_left_total",
                "Callers who left a queue, by result",
                &["queue", "class", "result"],
            )?,
            queue_wait_seconds: histogram(
                &r,
                "ivr_queue_wait_seconds",
                "Time waited until an agent answered",
                &["queue", "class"],
                WAIT_BUCKETS,
            )?,
            queue_service_level_ratio: {
                let g = GaugeVec::new(
                    Opts::new(
                        "ivr_queue_service_level_ratio",
                        "Share of answered calls answered within the service-level threshold",
                    ),
                    &["queue"],
                )?;
                r.register(Box::new(g.clone()))?;
                g
            },
            agents: gauge(&r, "ivr_agents", "Agents, by state", &["queue", "state"])?,
            uptime_seconds: uptime,
            registry: r,
        };
        for s in DIGIT_SOURCES {
            m.dtmf_digits_total.with_label_values(&[s]);
        }
        for s in PLAYBACK_RESULTS {
            m.prompt_playbacks_total.with_label_values(&[s]);
        }
        for s in HANDSHAKE_REASONS {
            m.handshakes_rejected_total.with_label_values(&[s]);
        }
        for d in DIALECTS {
            m.calls_started_total.with_label_values(&[d]);
            for k in ProtocolErrorKind::ALL {
                m.protocol_errors_total.with_label_values(&[d, k.label()]);
            }
        }
        for o in MARK_OUTCOMES {
            m.marks_total.with_label_values(&[o]);
        }
        m.media_frames_dropped_total
            .with_label_values(&["before_start"]);
        m.calls_active.with_label_values(&[UNROUTED_LINE]);
        for outcome in CALL_OUTCOMES {
            m.calls_total.with_label_values(&[UNROUTED_LINE, outcome]);
        }
        for s in ["ok", "failed"] {
            m.flow_reloads_total.with_label_values(&[s]);
            m.cdr_writes_total.with_label_values(&[s]);
        }
        Ok(m)
    }

    /// Creates every series named by a flow set at zero: lines, nodes, queues and classes.
    /// Called at start-up and after each successful reload (existing series keep counting).
    pub fn register_flows(&self, set: &FlowSet) {
        for flow in &set.flows {
            let line = flow.id.as_str();
            self.calls_active.with_label_values(&[line]);
            self.call_duration_seconds.with_label_values(&[line]);
            self.call_inputs_dropped_total.with_label_values(&[line]);
            for outcome in CALL_OUTCOMES {
                self.calls_total.with_label_values(&[line, outcome]);
            }
            for node in &flow.nodes {
                let labels = [line, node.id.as_str()];
                self.calls_in_node.with_label_values(&labels);
                self.node_entries_total.with_label_values(&labels);
                if matches!(
                    node.kind,
                    crate::flow::model::NodeKind::Menu(_)
                        | crate::flow::model::NodeKind::Collect(_)
                ) {
                    for kind in MENU_FAILURES {
                        self.menu_failures_total
                            .with_label_values(&[line, node.id.as_str(), kind]);
                    }
                }
            }
        }
        for (id, queue) in &set.queues {
            let q = id.as_str();
            self.queue_oldest_wait_seconds.with_label_values(&[q]);
            self.queue_service_level_ratio.with_label_values(&[q]);
            for state in AGENT_STATES {
                self.agents.with_label_values(&[q, state]);
            }
            for class in &queue.classes {
                let labels = [q, class.name.as_str()];
                self.queue_depth.with_label_values(&labels);
                self.queue_entered_total.with_label_values(&labels);
                self.queue_wait_seconds.with_label_values(&labels);
                for result in QUEUE_RESULTS {
                    self.queue_left_total
                        .with_label_values(&[q, class.name.as_str(), result]);
                }
            }
        }
    }

    /// The registry, for serving or for tests.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The text exposition (format 0.0.4) of every series.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let encoder = TextEncoder::new();
        // Encoding into a Vec cannot fail for I/O reasons; a metric-family error would be a
        // programming error, and an empty body is then the honest answer.
        if encoder.encode(&self.registry.gather(), &mut buf).is_err() {
            return String::new();
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_series_are_present_at_zero_after_start() {
        let m = Metrics::new().unwrap();
        let text = m.render();
        assert!(text.contains("# TYPE ivr_dtmf_digits_total counter"));
        assert!(text.contains("ivr_dtmf_digits_total{source=\"inband\"} 0"));
        assert!(text.contains("ivr_handshakes_rejected_total{reason=\"bad_signature\"} 0"));
        assert!(text.contains("ivr_protocol_errors_total{dialect=\"asterisk\",kind=\"base64\"} 0"));
        assert!(text.contains("ivr_frame_handling_seconds_bucket{le=\"0.005\"} 0"));
    }

    #[test]
    fn counts_show_in_the_exposition() {
        let m = Metrics::new().unwrap();
        m.dtmf_digits_total.with_label_values(&["event"]).inc_by(3);
        assert!(
            m.render()
                .contains("ivr_dtmf_digits_total{source=\"event\"} 3")
        );
    }
}
