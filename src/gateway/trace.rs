//! One call's footprint outside the call: its metric series and its call record.
//!
//! The session feeds a `CallTrace` every event the call core emits, the queue it joined and,
//! once, how the session ended. The trace keeps the live picture (`ivr_calls_active`,
//! `ivr_calls_in_node`) right at every moment, counts node entries and menu failures, and
//! writes the call record twice: a start row when the call is routed and the complete row when
//! it ends. Writing goes through the record store's channel and never waits on the disk.
//!
//! A trace dropped without `CallTrace::finish` (a panicking session) still ends its series
//! and closes its record, as an error. Labels are flow, node, queue and class ids from the
//! loaded flows and fixed outcome names; never a call id, number or digit. Secure values are
//! recorded as collected, never with their value.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::Utc;

use crate::call::{CallEvent, EndReason, FailureKind, Party};
use crate::cdr::{CallRecord, CdrWriter};
use crate::flow::model::Flow;
use crate::gateway::session::Exit;
use crate::ids::CallId;
use crate::telemetry::Metrics;
use crate::telemetry::metrics::UNROUTED_LINE;

/// Node entries kept in a record's path; a call looping longer keeps its first entries and a
/// final `…` marker.
const MAX_PATH: usize = 256;

/// What a record shows for a value the flow marked `secure`.
pub const SECURE_VALUE: &str = "(secure)";

/// The live metric series and the call record of one call.
pub(crate) struct CallTrace {
    metrics: Metrics,
    cdr: Option<CdrWriter>,
    /// `flow` label of per-node series; `None` for a number no flow claims.
    flow: Option<String>,
    line: String,
    node: Option<String>,
    record: CallRecord,
    started: Instant,
    queued_at: Option<Instant>,
    core_end: Option<(EndReason, Party)>,
    finished: bool,
}

impl CallTrace {
    /// A call routed to `flow` (or to nobody) starts: counts it active and writes its start row.
    pub(crate) fn start(
        metrics: Metrics,
        cdr: Option<CdrWriter>,
        id: &CallId,
        flow: Option<&Flow>,
        dialled: &str,
        caller_masked: Option<String>,
        now: Instant,
    ) -> CallTrace {
        let line = flow.map_or_else(|| UNROUTED_LINE.to_owned(), |f| f.id.as_str().to_owned());
        metrics.calls_active.with_label_values(&[&line]).inc();
        let record = CallRecord {
            call_id: id.as_str().to_owned(),
            line: line.clone(),
            flow_version: flow.map(|f| f.version.clone()).unwrap_or_default(),
            dialled: dialled.to_owned(),
            caller: caller_masked,
            started_at: Utc::now(),
            ended_at: None,
            path: Vec::new(),
            inputs: BTreeMap::new(),
            language: None,
            queue: None,
            priority: None,
            wait_ms: None,
            agent: None,
            outcome: None,
            ended_by: None,
            reason: None,
        };
        let trace = CallTrace {
            metrics,
            cdr,
            flow: flow.map(|f| f.id.as_str().to_owned()),
            line,
            node: None,
            record,
            started: now,
            queued_at: None,
            core_end: None,
            finished: false,
        };
        trace.write();
        trace
    }

    /// One event of the call core.
    pub(crate) fn event(&mut self, ev: &CallEvent, now: Instant) {
        match ev {
            CallEvent::NodeEntered { node, .. } => self.enter(node.as_str()),
            CallEvent::MenuFailure { node, kind, .. }
            | CallEvent::CollectFailure { node, kind, .. } => {
                if let Some(flow) = &self.flow {
                    let kind = match kind {
                        FailureKind::Invalid => "invalid",
                        FailureKind::NoInput => "no_input",
                    };
                    self.metrics
                        .menu_failures_total
                        .with_label_values(&[flow.as_str(), node.as_str(), kind])
                        .inc();
                }
            }
            CallEvent::ValueCollected { var, value } => {
                let shown = value.clone().unwrap_or_else(|| SECURE_VALUE.to_owned());
                self.record.inputs.insert(var.clone(), shown);
            }
            CallEvent::ValueLookedUp { var, value } => {
                self.record.inputs.insert(var.clone(), value.clone());
            }
            CallEvent::LanguageChanged { language } => {
                self.record.language = Some(language.as_str().to_owned());
            }
            CallEvent::AgentAssigned { agent } => {
                self.record.agent = Some(agent.as_str().to_owned());
                if let Some(at) = self.queued_at {
                    self.record.wait_ms = Some(now.duration_since(at).as_millis() as u64);
                }
            }
            CallEvent::InputDropped { .. } => {
                self.metrics
                    .call_inputs_dropped_total
                    .with_label_values(&[&self.line])
                    .inc();
            }
            CallEvent::Ended {
                outcome,
                hung_up_by,
                ..
            } => {
                self.core_end = Some((outcome.clone(), *hung_up_by));
            }
            _ => {}
        }
    }

    /// The call joined a queue in a priority class.
    pub(crate) fn enqueued(&mut self, queue: &str, class: &str, now: Instant) {
        self.record.queue = Some(queue.to_owned());
        self.record.priority = Some(class.to_owned());
        self.queued_at = Some(now);
    }

    /// The queue refused the caller (no agents, full): the call never waited there.
    pub(crate) fn queue_refused(&mut self) {
        self.record.queue = None;
        self.record.priority = None;
        self.queued_at = None;
    }

    fn enter(&mut self, node: &str) {
        let Some(flow) = self.flow.as_deref() else {
            return;
        };
        if let Some(old) = self.node.take() {
            self.metrics
                .calls_in_node
                .with_label_values(&[flow, old.as_str()])
                .dec();
        }
        self.metrics
            .calls_in_node
            .with_label_values(&[flow, node])
            .inc();
        self.metrics
            .node_entries_total
            .with_label_values(&[flow, node])
            .inc();
        self.node = Some(node.to_owned());
        if self.record.path.len() < MAX_PATH {
            self.record.path.push(node.to_owned());
        } else if self.record.path.len() == MAX_PATH {
            self.record.path.push("…".to_owned());
        }
    }

    /// The session ended with `exit`: ends the live series, counts the outcome and writes the
    /// complete record.
    pub(crate) fn finish(mut self, exit: &Exit, now: Instant) {
        self.close(Some(exit), now);
    }

    fn close(&mut self, exit: Option<&Exit>, now: Instant) {
        if self.finished {
            return;
        }
        self.finished = true;
        let (outcome, ended_by, reason) = self.classify(exit);
        if let (Some(flow), Some(node)) = (self.flow.as_deref(), self.node.take()) {
            self.metrics
                .calls_in_node
                .with_label_values(&[flow, node.as_str()])
                .dec();
        }
        self.metrics
            .calls_active
            .with_label_values(&[&self.line])
            .dec();
        self.metrics
            .calls_total
            .with_label_values(&[&self.line, outcome])
            .inc();
        self.metrics
            .call_duration_seconds
            .with_label_values(&[&self.line])
            .observe(now.duration_since(self.started).as_secs_f64());
        if self.record.wait_ms.is_none()
            && let Some(at) = self.queued_at
        {
            self.record.wait_ms = Some(now.duration_since(at).as_millis() as u64);
        }
        self.record.ended_at = Some(Utc::now());
        self.record.outcome = Some(outcome.to_owned());
        self.record.ended_by = Some(ended_by.to_owned());
        self.record.reason = Some(reason);
        self.write();
    }

    /// The outcome class (a `CALL_OUTCOMES` label), who ended the call, and the detailed reason.
    fn classify(&self, exit: Option<&Exit>) -> (&'static str, &'static str, String) {
        let to_agent = self.record.agent.is_some();
        let Some(exit) = exit else {
            return ("error", "engine", "session_failed".into());
        };
        match exit {
            Exit::Drained => ("drained", "drain", "engine_shutdown".into()),
            Exit::Malformed(r) | Exit::Unsupported(r) => ("error", "gateway", (*r).into()),
            Exit::StartTimeout | Exit::MediaTimeout | Exit::WriteStalled | Exit::SocketError => {
                ("error", "gateway", exit.outcome())
            }
            Exit::Duplicate => ("error", "gateway", "duplicate".into()),
            Exit::CallerHungUp => ("caller_hung_up", "caller", "caller_hung_up".into()),
            Exit::Transferred if to_agent => ("agent", "engine", "answered".into()),
            Exit::Transferred => ("transfer", "engine", "transferred".into()),
            Exit::Ended(label) if self.flow.is_none() => {
                ("not_in_service", "engine", label.clone())
            }
            Exit::Ended(label) => match &self.core_end {
                Some((EndReason::MaxDuration, _)) => {
                    ("max_duration", "engine", "max_duration".into())
                }
                Some((EndReason::Error(_), _)) => ("error", "engine", label.clone()),
                Some((EndReason::CallerHungUp, _)) => {
                    ("caller_hung_up", "caller", "caller_hung_up".into())
                }
                Some((EndReason::Answered | EndReason::Transferred, _)) if to_agent => {
                    ("agent", "engine", label.clone())
                }
                _ => ("self_service", "engine", label.clone()),
            },
        }
    }

    fn write(&self) {
        if let Some(w) = &self.cdr
            && w.write(self.record.clone()).is_err()
        {
            self.metrics
                .cdr_writes_total
                .with_label_values(&["failed"])
                .inc();
            tracing::error!(call = %self.record.call_id, "call-record writer gone; record lost");
        }
    }
}

impl Drop for CallTrace {
    fn drop(&mut self) {
        self.close(None, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::Party;
    use crate::cdr::CdrStore;
    use crate::flow::load::{LoadOptions, load};
    use crate::flow::model::FlowSet;
    use crate::ids::{AgentId, NodeId};
    use crate::telemetry::exposition::Exposition;

    fn shipped() -> FlowSet {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        load(&LoadOptions::new([root.join("flows")])).set.unwrap()
    }

    fn entered(node: &str) -> CallEvent {
        CallEvent::NodeEntered {
            node: NodeId::new(node),
            kind: "menu",
        }
    }

    fn ended(outcome: EndReason, by: Party) -> CallEvent {
        CallEvent::Ended {
            outcome,
            hung_up_by: by,
            node: NodeId::new("x"),
        }
    }

    fn value(m: &Metrics, name: &str, labels: &[(&str, &str)]) -> f64 {
        Exposition::parse(&m.render())
            .unwrap()
            .get(name, labels)
            .unwrap_or(f64::NAN)
    }

    /// Runs one call through a trace and returns its record and the metrics.
    fn run(
        flow: Option<&str>,
        events: &[CallEvent],
        queued: bool,
        exit: &Exit,
    ) -> (CallRecord, Metrics) {
        let set = shipped();
        let flow = flow.map(|id| set.flows.iter().find(|f| f.id.as_str() == id).unwrap());
        let m = Metrics::new().unwrap();
        m.register_flows(&set);
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.sqlite");
        let (store, _) = CdrStore::open(&db, Utc::now(), Some(m.clone())).unwrap();
        let t0 = Instant::now();
        let mut trace = CallTrace::start(
            m.clone(),
            Some(store.writer()),
            &CallId::new("CA-t"),
            flow.map(|f| &**f),
            "95017",
            Some("+86138****0000".into()),
            t0,
        );
        if queued {
            trace.enqueued("general", "emergency", t0);
        }
        for ev in events {
            trace.event(ev, t0 + std::time::Duration::from_secs(3));
        }
        trace.finish(exit, t0 + std::time::Duration::from_secs(5));
        store.close().unwrap();
        let record = crate::cdr::find(&db, "CA-t").unwrap().unwrap();
        (record, m)
    }

    #[test]
    fn the_call_moves_through_node_gauges_and_leaves_them_at_zero() {
        let set = shipped();
        let flow = set.flows.iter().find(|f| f.id.as_str() == "hotline-95017");
        let m = Metrics::new().unwrap();
        m.register_flows(&set);
        let t0 = Instant::now();
        let mut trace = CallTrace::start(
            m.clone(),
            None,
            &CallId::new("CA-g"),
            flow.map(|f| &**f),
            "95017",
            None,
            t0,
        );
        let in_node = |m: &Metrics, node: &str| {
            value(
                m,
                "ivr_calls_in_node",
                &[("flow", "hotline-95017"), ("node", node)],
            )
        };
        trace.event(&entered("welcome"), t0);
        assert_eq!(in_node(&m, "welcome"), 1.0);
        trace.event(&entered("choose_language"), t0);
        assert_eq!(in_node(&m, "welcome"), 0.0);
        assert_eq!(in_node(&m, "choose_language"), 1.0);
        assert_eq!(
            value(&m, "ivr_calls_active", &[("line", "hotline-95017")]),
            1.0
        );
        trace.finish(&Exit::CallerHungUp, t0);
        assert_eq!(in_node(&m, "choose_language"), 0.0);
        assert_eq!(
            value(&m, "ivr_calls_active", &[("line", "hotline-95017")]),
            0.0
        );
        assert_eq!(
            value(
                &m,
                "ivr_node_entries_total",
                &[("flow", "hotline-95017"), ("node", "welcome")]
            ),
            1.0
        );
    }

    #[test]
    fn each_way_of_ending_gets_its_outcome_who_and_reason() {
        let agent = CallEvent::AgentAssigned {
            agent: AgentId::new("a7"),
        };
        let line = Some("hotline-95017");
        // (what, line, core events, how the session ended, [outcome, ended by, reason])
        type Case<'a> = (&'a str, Option<&'a str>, Vec<CallEvent>, Exit, [&'a str; 3]);
        let cases: Vec<Case> = vec![
            (
                "flow hang-up",
                line,
                vec![ended(EndReason::Flow("closed_hours".into()), Party::Engine)],
                Exit::Ended("closed_hours".into()),
                ["self_service", "engine", "closed_hours"],
            ),
            (
                "answered by an agent",
                line,
                vec![agent.clone(), ended(EndReason::Transferred, Party::Engine)],
                Exit::Transferred,
                ["agent", "engine", "answered"],
            ),
            (
                "transfer to a number",
                line,
                vec![ended(EndReason::Transferred, Party::Engine)],
                Exit::Transferred,
                ["transfer", "engine", "transferred"],
            ),
            (
                "caller hung up",
                line,
                vec![ended(EndReason::CallerHungUp, Party::Caller)],
                Exit::CallerHungUp,
                ["caller_hung_up", "caller", "caller_hung_up"],
            ),
            (
                "maximum duration",
                line,
                vec![ended(EndReason::MaxDuration, Party::Engine)],
                Exit::Ended("max_duration".into()),
                ["max_duration", "engine", "max_duration"],
            ),
            (
                "malformed input",
                line,
                vec![],
                Exit::Malformed("bad_json"),
                ["error", "gateway", "bad_json"],
            ),
            (
                "gateway stopped reading",
                line,
                vec![],
                Exit::WriteStalled,
                ["error", "gateway", "slow_consumer"],
            ),
            (
                "drained",
                line,
                vec![],
                Exit::Drained,
                ["drained", "drain", "engine_shutdown"],
            ),
            (
                "nobody serves the number",
                None,
                vec![],
                Exit::Ended("not_in_service".into()),
                ["not_in_service", "engine", "not_in_service"],
            ),
        ];
        for (what, flow, events, exit, [outcome, by, reason]) in cases {
            let (r, m) = run(flow, &events, true, &exit);
            assert_eq!(r.outcome.as_deref(), Some(outcome), "{what}");
            assert_eq!(r.ended_by.as_deref(), Some(by), "{what}");
            assert_eq!(r.reason.as_deref(), Some(reason), "{what}");
            let line = flow.unwrap_or(UNROUTED_LINE);
            assert_eq!(
                value(
                    &m,
                    "ivr_calls_total",
                    &[("line", line), ("outcome", outcome)]
                ),
                1.0,
                "{what}"
            );
            assert_eq!(
                value(&m, "ivr_cdr_writes_total", &[("result", "ok")]),
                2.0,
                "{what}: a start row and an end row"
            );
        }
    }

    #[test]
    fn records_keep_values_but_never_a_secure_one_and_time_the_wait() {
        let events = [
            CallEvent::ValueCollected {
                var: "merchant_id".into(),
                value: Some("523000011".into()),
            },
            CallEvent::ValueCollected {
                var: "pin".into(),
                value: None,
            },
            CallEvent::ValueLookedUp {
                var: "tier".into(),
                value: "chain".into(),
            },
            CallEvent::AgentAssigned {
                agent: AgentId::new("a7"),
            },
        ];
        let (r, _) = run(
            Some("merchant-0755-83765566"),
            &events,
            true,
            &Exit::Transferred,
        );
        assert_eq!(r.inputs["merchant_id"], "523000011");
        assert_eq!(r.inputs["pin"], SECURE_VALUE);
        assert_eq!(
            r.inputs["tier"], "chain",
            "looked-up values are recorded too"
        );
        assert_eq!(r.agent.as_deref(), Some("a7"));
        assert_eq!(r.wait_ms, Some(3000), "joined at 0 s, answered at 3 s");
        assert_eq!(r.queue.as_deref(), Some("general"));
    }

    #[test]
    fn a_trace_dropped_unfinished_still_ends_its_call_as_an_error() {
        let set = shipped();
        let m = Metrics::new().unwrap();
        m.register_flows(&set);
        let flow = set.flows.iter().find(|f| f.id.as_str() == "hotline-95017");
        let trace = CallTrace::start(
            m.clone(),
            None,
            &CallId::new("CA-d"),
            flow.map(|f| &**f),
            "95017",
            None,
            Instant::now(),
        );
        drop(trace);
        assert_eq!(
            value(&m, "ivr_calls_active", &[("line", "hotline-95017")]),
            0.0
        );
        assert_eq!(
            value(
                &m,
                "ivr_calls_total",
                &[("line", "hotline-95017"), ("outcome", "error")]
            ),
            1.0
        );
    }
}
