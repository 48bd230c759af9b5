//! How a call leaves the engine: hang-up and transfer decisions recorded for the gateway to
//! fetch (with the in-band command where the gateway has one), the core told the caller is
//! gone, the queue left, the accounting (metrics, the complete call record) done once, and the
//! socket closed with a reason.
//!
//! Every path here ends the session, at once or at the end of the turn; none keeps it running.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::outbound::mark_safe;
use super::{EVENT_MARK_PREFIX, Exit, Session};
use crate::call::{Action, Input};
use crate::gateway::dialect::{Capability, DialectKind, Outbound};
use crate::gateway::registry::Decision;
use crate::ids::CallId;

impl<S> Session<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Leaves the queue, counts a prompt cut short, ends the metric series and writes the
    /// complete call record. Runs once; later calls do nothing.
    pub(super) fn account_end(&mut self, exit: &Exit) {
        self.queue.call_ended(&self.shared.acd, exit);
        if self.current.take().is_some() {
            let result = if *exit == Exit::CallerHungUp {
                "hung_up"
            } else {
                "interrupted"
            };
            self.shared
                .metrics
                .prompt_playbacks_total
                .with_label_values(&[result])
                .inc();
        }
        if let Some(trace) = self.trace.take() {
            trace.finish(exit, Instant::now().into_std());
        }
    }

    pub(super) fn exit_after_hangup(&mut self, outcome: &str) {
        self.shared.registry.decide(self.id(), Decision::Hangup);
        if self.exit.is_none() {
            self.exit = Some(Exit::Ended(outcome.to_owned()));
        }
    }

    /// Hands the caller on and ends the session; `fact` tells the core the call left it.
    pub(super) async fn leave_by_transfer(
        &mut self,
        target: &str,
        fact: Input,
        now: Instant,
    ) -> Result<(), Exit> {
        tracing::info!(call = %self.id(), "handing the call over");
        self.shared.registry.decide(
            self.id(),
            Decision::Transfer {
                target: target.to_owned(),
            },
        );
        let name = format!("{EVENT_MARK_PREFIX}transfer:{}", mark_safe(target));
        self.send_event_mark(&name).await?;
        if self.dialect.supports(Capability::Transfer) {
            if let Some(out) = self.dialect.encode(Outbound::Transfer { target }) {
                self.send(out).await?;
            }
        } else if self.kind == DialectKind::Asterisk
            && let Some(out) = self.dialect.encode(Outbound::Hangup)
        {
            self.send(out).await?;
        }
        if let Some(call) = self.call.as_mut() {
            call.handle_input(now.into_std(), fact);
            let actions: Vec<Action> = std::iter::from_fn(|| call.poll_action()).collect();
            for action in &actions {
                self.observe(action);
            }
        }
        Err(Exit::Transferred)
    }

    /// Tells the core the caller is gone (so it emits its one `Ended`), ignoring its actions.
    pub(super) fn hang_up_core(&mut self, now: Instant) {
        if let Some(call) = self.call.as_mut() {
            call.handle_input(now.into_std(), Input::CallerHungUp);
            let actions: Vec<Action> = std::iter::from_fn(|| call.poll_action()).collect();
            for action in &actions {
                self.observe(action);
            }
        }
    }

    pub(super) async fn finish(&mut self, exit: Exit) {
        let outcome = exit.outcome();
        let (code, reason) = match &exit {
            Exit::Malformed(r) | Exit::Unsupported(r) => (CloseCode::Policy, *r),
            Exit::Duplicate => (CloseCode::Policy, "duplicate stream for this call"),
            Exit::StartTimeout => (CloseCode::Policy, "no start"),
            Exit::MediaTimeout => (CloseCode::Away, "no media"),
            Exit::Drained => (CloseCode::Away, "engine shutting down"),
            _ => (CloseCode::Normal, ""),
        };
        tracing::debug!(call = ?self.call_id.as_ref().map(CallId::as_str), gateway = %self.kind, outcome, "session closed");
        if !matches!(exit, Exit::WriteStalled | Exit::SocketError) {
            let frame = CloseFrame {
                code,
                reason: reason.into(),
            };
            let _ = timeout(Duration::from_millis(500), self.ws.close(Some(frame))).await;
        }
    }
}
