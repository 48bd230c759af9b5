//! Which calls run now, and where calls that left the IVR go next.
//!
//! The registry keys running calls by the gateway's call id so a second socket for the same
//! call (Twilio occasionally opens one) is refused instead of running the flow twice. A claim
//! is a guard: dropping it frees the id, whatever way the session ends.
//!
//! Decisions are what the gateway asks after a stream closed: Twilio's `<Connect action>`
//! webhook and the Asterisk dialplan's `GET /api/calls/{id}/next`. They are kept for a bounded
//! number of recent calls.
//!
//! A std mutex with tiny critical sections, never held across an `.await`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::call::Input;
use crate::ids::CallId;

/// Most decisions remembered.
const MAX_DECISIONS: usize = 10_000;

/// Where a call goes after the IVR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Connect to a number (`tel:+86...`) or SIP address (`sip:agent@host`).
    Transfer {
        /// The target as the flow or the queue named it.
        target: String,
    },
    /// Hang up.
    Hangup,
    /// The engine shut down mid-call; send the caller somewhere healthy.
    Drained,
}

/// What the registry knows about a running call (never the caller's number).
#[derive(Clone, Debug)]
pub struct CallEntry {
    /// The dialect it speaks.
    pub gateway: &'static str,
    /// The flow it runs (`None` while not in service).
    pub flow: Option<String>,
    /// Facts pushed from outside the session (queue notices, admin API).
    pub facts: mpsc::Sender<Input>,
}

/// Running calls and recent decisions.
#[derive(Debug, Default)]
pub struct Registry {
    calls: Mutex<BTreeMap<CallId, CallEntry>>,
    decisions: Mutex<(BTreeMap<CallId, Decision>, VecDeque<CallId>)>,
}

/// Holds a call id for one session; dropping it frees the id.
#[derive(Debug)]
pub struct Claim {
    registry: Arc<Registry>,
    id: CallId,
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Ok(mut calls) = self.registry.calls.lock() {
            calls.remove(&self.id);
        }
    }
}

impl Registry {
    /// Claims `id` for a session, or `None` when a session for it already runs.
    pub fn claim(self: &Arc<Self>, id: &CallId, entry: CallEntry) -> Option<Claim> {
        let mut calls = self.calls.lock().ok()?;
        if calls.contains_key(id) {
            return None;
        }
        calls.insert(id.clone(), entry);
        Some(Claim {
            registry: Arc::clone(self),
            id: id.clone(),
        })
    }

    /// Records the flow a claimed call runs.
    pub fn set_flow(&self, id: &CallId, flow: &str) {
        if let Ok(mut calls) = self.calls.lock()
            && let Some(e) = calls.get_mut(id)
        {
            e.flow = Some(flow.to_owned());
        }
    }

    /// The running calls, by id.
    pub fn list(&self) -> Vec<(CallId, CallEntry)> {
        self.calls
            .lock()
            .map(|c| c.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    /// How many calls run.
    pub fn len(&self) -> usize {
        self.calls.lock().map(|c| c.len()).unwrap_or(0)
    }

    /// Whether no call runs.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The fact channel of a running call.
    pub fn facts(&self, id: &CallId) -> Option<mpsc::Sender<Input>> {
        self.calls
            .lock()
            .ok()
            .and_then(|c| c.get(id).map(|e| e.facts.clone()))
    }

    /// Remembers where a call goes next.
    pub fn decide(&self, id: &CallId, decision: Decision) {
        if let Ok(mut d) = self.decisions.lock() {
            let (map, order) = &mut *d;
            if map.insert(id.clone(), decision).is_none() {
                order.push_back(id.clone());
            }
            while order.len() > MAX_DECISIONS {
                if let Some(old) = order.pop_front() {
                    map.remove(&old);
                }
            }
        }
    }

    /// Where a call goes next, if decided.
    pub fn decision(&self, id: &CallId) -> Option<Decision> {
        self.decisions
            .lock()
            .ok()
            .and_then(|d| d.0.get(id).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> CallEntry {
        CallEntry {
            gateway: "twilio",
            flow: None,
            facts: mpsc::channel(1).0,
        }
    }

    #[test]
    fn a_second_claim_for_a_running_call_is_refused_until_the_first_ends() {
        let r = Arc::new(Registry::default());
        let id = CallId::new("CA1");
        let first = r.claim(&id, entry()).expect("first claim");
        assert!(r.claim(&id, entry()).is_none());
        assert_eq!(r.len(), 1);
        drop(first);
        assert!(r.is_empty());
        assert!(r.claim(&id, entry()).is_some());
    }

    #[test]
    fn decisions_are_remembered_and_bounded() {
        let r = Registry::default();
        r.decide(
            &CallId::new("CA1"),
            Decision::Transfer {
                target: "sip:a@b".into(),
            },
        );
        assert_eq!(
            r.decision(&CallId::new("CA1")),
            Some(Decision::Transfer {
                target: "sip:a@b".into()
            })
        );
        for i in 0..MAX_DECISIONS + 5 {
            r.decide(&CallId::new(format!("X{i}")), Decision::Hangup);
        }
        assert_eq!(r.decision(&CallId::new("CA1")), None);
        assert_eq!(r.decision(&CallId::new("X9")), Some(Decision::Hangup));
    }
}
