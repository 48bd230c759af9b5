//! Telemetry: the Prometheus metric catalogue and the tracing set-up.
//!
//! A shell module: it owns a [`prometheus::Registry`] that the gateway, the queue actor and the
//! record store update; nothing here is global, so tests build as many engines as they like.
//! Every label value comes from a bounded set (line, flow, node, queue, priority class, state,
//! outcome, reason) — never a call id, a caller number or digits.

pub mod exposition;
pub mod metrics;
pub mod redact;

pub use metrics::{Metrics, MetricsError, ProtocolErrorKind, WAIT_BUCKETS};
