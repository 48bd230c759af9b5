//! Flow tests on a virtual clock: runs the cases of `kind: test` files against the compiled
//! flows and measures how much of each flow they cover. This is what `ivr test` runs.
//!
//! Each case is one [`Call`](crate::call::Call) started with the case's caller, dialled
//! number (default: the flow's first number), wall-clock time (default: [`default_start`], a
//! Wednesday 10:00 in Asia/Shanghai) and emergency flags. The runner plays the gateway and the
//! caller; ten minutes of call take a millisecond and nothing sleeps.
//!
//! ## Steps
//!
//! A case reads like a conversation: **every step starts once the call has finished
//! talking**. A prompt playing towards its end is heard out first (and the nodes after it
//! run, until the call waits for the caller or the outside world); music on hold, which never
//! ends, is not waited for. Timers due before the prompt ends fire on the way.
//!
//! - `press: "12#"`: the first key once the prompt has been heard, the others 200 ms apart
//!   each, while whatever plays then may be barged in (a key is held back while a prompt that
//!   cannot be cut short, a `play` without `barge_in`, plays; in a queue keys go in at once).
//! - `silence: 6s` / `advance: 6s`: the caller stays silent for that long after the prompt;
//!   timers fire and playbacks end in order.
//! - `queue: answered | timeout | no_agents | full`: the queue's fact, once the join prompt
//!   has been heard; `answered` is an agent taking the call and the agent leg ending at once.
//!   A callback the call asks for is registered at once.
//! - `transfer: connected | failed`: the transfer's fact.
//! - `hangup`: the caller hangs up.
//!
//! After the last step the call finishes talking once more. A fact the call is not waiting
//! for (a queue fact while it is at a menu, ...) is dropped by the call, as it would be live.
//! A case stops after [`EVENT_LIMIT`] inputs and timer firings (a flow looping through
//! prompts).
//!
//! ## What "prompts heard" means
//!
//! Every utterance that *started* playing, in order: a prompt cut short by a key counts, the
//! ones after it in the same playback do not. Numbers are written `number:42` and digit
//! read-backs `digits:123` (see [`utterance_name`]). Music on hold counts once each time it
//! starts (on joining a queue after the join prompt, and again after each announcement);
//! announcements count like any prompt. Playback lengths come from a [`PromptDurations`]: one
//! second per utterance ([`Nominal`]) unless real audio lengths are given.
//!
//! ## Expectations and coverage
//!
//! `prompts` (exact list), `node`, `queue` and `priority` (of the last queue joined), `vars`
//! (compared as text; secure values are never shown) and `ended`; every difference is
//! reported (see [`Mismatch`]). Coverage per flow counts nodes entered and edges taken over
//! every case of every suite (see [`coverage`] for what an edge is).
//!
//! This module must not read a clock, sleep, or touch files or sockets: suites come loaded,
//! the origin instant is an argument and reports are returned as values.

pub mod coverage;
mod driver;
mod durations;
mod expect;
mod report;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::call::{CallInfo, EndReason};
use crate::flow::expr::text;
use crate::flow::model::{Flow, FlowSet};
use crate::flow::test_model::{TestCase, TestSuite};
use crate::ids::{CallId, FlowId, NodeId};

pub use coverage::{FlowCoverage, Seen};
pub use driver::EVENT_LIMIT;
pub use durations::{NOMINAL_UTTERANCE, Nominal, PromptDurations};
pub use expect::{Mismatch, secure_vars, utterance_name};
pub use report::{write_json, write_text};

/// The wall-clock time of a case that gives no `at`: Wednesday 25 November 2026, 10:00 in
/// Asia/Shanghai (02:00 UTC), an ordinary working day.
pub fn default_start() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(2026, 11, 25)
        .and_then(|d| d.and_hms_opt(2, 0, 0))
        .map(|t| t.and_utc())
        // The date and time above are valid constants, so the fallback is never used.
        .unwrap_or_default()
}

/// The result of one case.
#[derive(Clone, Debug, Serialize)]
pub struct CaseResult {
    /// The flow under test.
    pub flow: FlowId,
    /// The suite's name.
    pub suite: String,
    /// The test file.
    pub file: PathBuf,
    /// The case's line in the file.
    pub line: usize,
    /// The case's name.
    pub name: String,
    /// Every difference from the expectations; empty when the case passed.
    pub mismatches: Vec<Mismatch>,
    /// Utterances heard, named as in `expect.prompts`.
    pub heard: Vec<String>,
    /// The node the call is at or ended in.
    pub node: NodeId,
    /// Every node entered, in order.
    pub path: Vec<NodeId>,
    /// How the call ended (`normal`, `caller_hung_up`, `answered`, ...); `None` if running.
    pub ended: Option<String>,
    /// Inputs and actions with virtual time, for finding out why a case failed.
    pub transcript: Vec<String>,
}

impl CaseResult {
    /// Whether every expectation held.
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// The results of a run: every case, then coverage of every flow of the set.
#[derive(Clone, Debug, Serialize)]
pub struct TestReport {
    /// Case results in suite and file order.
    pub cases: Vec<CaseResult>,
    /// Coverage per flow, by flow id (flows without tests included, at 0 %).
    pub coverage: Vec<FlowCoverage>,
}

impl TestReport {
    /// Cases that passed.
    pub fn passed(&self) -> usize {
        self.cases.iter().filter(|c| c.passed()).count()
    }

    /// Cases that failed.
    pub fn failed(&self) -> usize {
        self.cases.len() - self.passed()
    }

    /// Flows whose node coverage is below `min_percent`.
    pub fn below(&self, min_percent: f64) -> Vec<&FlowCoverage> {
        self.coverage
            .iter()
            .filter(|c| !c.meets(min_percent))
            .collect()
    }

    /// Whether every case passed and every flow reaches `min_percent` node coverage.
    pub fn ok(&self, min_percent: f64) -> bool {
        self.failed() == 0 && self.below(min_percent).is_empty()
    }
}

/// Runs one case on `flow`, with the virtual clock starting at `origin`; also returns what
/// it covered.
pub fn run_case(
    set: &Arc<FlowSet>,
    flow: &Arc<Flow>,
    suite: &TestSuite,
    case: &TestCase,
    durations: &dyn PromptDurations,
    origin: Instant,
) -> (CaseResult, Seen) {
    let info = CallInfo {
        caller: case.caller.clone(),
        dialled: case
            .number
            .clone()
            .or_else(|| flow.numbers.first().cloned())
            .unwrap_or_default(),
        started_at: case
            .at
            .map_or_else(default_start, |t| t.with_timezone(&Utc)),
        flags: driver::flags(case),
    };
    let id = CallId::new(format!("test-{}", case.line));
    let driver = driver::Driver::start(
        id,
        Arc::clone(set),
        Arc::clone(flow),
        info,
        origin,
        durations,
    );
    let done = driver.run(case);
    let call = &done.call;
    let heard: Vec<String> = done.heard.iter().map(utterance_name).collect();
    let ended = call.outcome().map(|e| match e {
        EndReason::Error(err) => format!("error: {err}"),
        other => other.label().to_owned(),
    });
    let state = ended
        .clone()
        .unwrap_or_else(|| format!("{} at {}", call.state_name(), call.node()));
    let seen_now = expect::Observed {
        heard: &heard,
        node: call.node(),
        joined: done.joined.as_ref(),
        ended: call.is_ended(),
        state: &state,
    };
    let secure = secure_vars(flow);
    let mut mismatches = Vec::new();
    if done.runaway {
        mismatches.push(Mismatch::Runaway {
            events: EVENT_LIMIT,
        });
    }
    mismatches.extend(expect::check(
        &case.expect,
        &seen_now,
        &|name| call.var(name).map(text),
        &secure,
    ));
    let result = CaseResult {
        flow: flow.id.clone(),
        suite: suite.name.clone(),
        file: suite.file.clone(),
        line: case.line,
        name: case.name.clone(),
        mismatches,
        heard,
        node: call.node().clone(),
        path: call.path().to_vec(),
        ended,
        transcript: done.transcript,
    };
    (result, done.seen)
}

/// Runs every case of every suite against `set` and measures coverage of all its flows.
/// The virtual clock of every case starts at `origin`.
pub fn run(
    set: &Arc<FlowSet>,
    suites: &[TestSuite],
    durations: &dyn PromptDurations,
    origin: Instant,
) -> TestReport {
    let mut cases = Vec::new();
    let mut seen: BTreeMap<FlowId, (Seen, usize)> = BTreeMap::new();
    for suite in suites {
        let flow = set.flows.iter().find(|f| f.id == suite.flow);
        for case in &suite.cases {
            let Some(flow) = flow else {
                cases.push(CaseResult {
                    flow: suite.flow.clone(),
                    suite: suite.name.clone(),
                    file: suite.file.clone(),
                    line: case.line,
                    name: case.name.clone(),
                    mismatches: vec![Mismatch::UnknownFlow(suite.flow.to_string())],
                    heard: Vec::new(),
                    node: NodeId::new(""),
                    path: Vec::new(),
                    ended: None,
                    transcript: Vec::new(),
                });
                continue;
            };
            let (result, covered) = run_case(set, flow, suite, case, durations, origin);
            let entry = seen.entry(flow.id.clone()).or_default();
            entry.0.merge(&covered);
            entry.1 += 1;
            cases.push(result);
        }
    }
    let empty = (Seen::default(), 0);
    let coverage = set
        .flows
        .iter()
        .map(|flow| {
            let (covered, count) = seen.get(&flow.id).unwrap_or(&empty);
            FlowCoverage::measure(flow, covered, *count)
        })
        .collect();
    TestReport { cases, coverage }
}
