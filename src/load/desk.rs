//! The simulated agents of a load run: [`crate::sim::agents`] started on the generator's own
//! runtime, logged in and ready before the first call connects, stopped (logged out) after
//! the last call ends. It only starts, waits and counts; how an agent behaves is the
//! simulator's business, and it must never touch the calls.

use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{AgentFigures, LoadError};
use crate::sim::agents::{self, AgentsError, AgentsOptions, Answered};

/// How long the agents may take to log in.
const READY_WITHIN: Duration = Duration::from_secs(15);
/// How often the roster is asked while they do.
const POLL: Duration = Duration::from_millis(50);

/// Running simulated agents.
pub(super) struct Desk {
    count: usize,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), AgentsError>>,
    answered: mpsc::UnboundedReceiver<Answered>,
}

/// How many of `ids` the roster (`GET /api/agents`) shows ready.
pub(super) fn ready_count(roster: &str, ids: &[String]) -> usize {
    let v: Value = serde_json::from_str(roster).unwrap_or(Value::Null);
    v.as_array().map_or(0, |agents| {
        agents
            .iter()
            .filter(|a| {
                a["state"] == "ready"
                    && a["id"]
                        .as_str()
                        .is_some_and(|id| ids.iter().any(|i| i == id))
            })
            .count()
    })
}

impl Desk {
    /// Logs the agents in and waits until every one is ready.
    pub(super) async fn start(opts: AgentsOptions) -> Result<Desk, LoadError> {
        let ids: Vec<String> = (1..=opts.count)
            .map(|n| format!("{}{n}", opts.prefix))
            .collect();
        let url = opts.url.clone();
        let token = opts.token.clone();
        let (tx, answered) = mpsc::unbounded_channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let mut desk = Desk {
            count: opts.count,
            stop,
            task: tokio::spawn(agents::run(opts, tx, async {
                let _ = stopped.await;
            })),
            answered,
        };
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if desk.task.is_finished() {
                let why = match (&mut desk.task).await {
                    Ok(Err(e)) => e.to_string(),
                    Ok(Ok(())) => "stopped before they were ready".to_owned(),
                    Err(e) => e.to_string(),
                };
                return Err(LoadError::Agents(why));
            }
            if let Ok((200, roster)) =
                agents::http(&url, "GET", "/api/agents", token.as_deref(), None).await
                && ready_count(&roster, &ids) >= ids.len()
            {
                return Ok(desk);
            }
            if Instant::now() >= deadline {
                let figures = desk.finish().await;
                return Err(LoadError::Agents(figures.error.unwrap_or_else(|| {
                    format!("not all {} ready after {READY_WITHIN:?}", ids.len())
                })));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Stops the agents (they log out) and says what they did.
    pub(super) async fn finish(mut self) -> AgentFigures {
        let _ = self.stop.send(());
        let error = match tokio::time::timeout(Duration::from_secs(10), &mut self.task).await {
            Ok(Ok(Ok(()))) => None,
            Ok(Ok(Err(e))) => Some(e.to_string()),
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => {
                self.task.abort();
                Some("did not log out within 10 s".to_owned())
            }
        };
        let mut took = 0;
        while self.answered.try_recv().is_ok() {
            took += 1;
        }
        AgentFigures {
            count: self.count,
            took,
            error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_agents_in_the_ready_state_count() {
        let roster = r#"[
            {"id":"load1","state":"ready"},
            {"id":"load2","state":"logged_out"},
            {"id":"g1001","state":"ready"},
            {"id":"load3","state":"ready"}
        ]"#;
        let ids: Vec<String> = ["load1", "load2", "load3"].map(String::from).to_vec();
        assert_eq!(ready_count(roster, &ids), 2);
        assert_eq!(ready_count("not json", &ids), 0);
        assert_eq!(ready_count(r#"{"error":"x"}"#, &ids), 0);
    }
}
