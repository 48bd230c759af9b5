//! The call core's side of a turn: after every input, drain the core's actions and carry each
//! one out (play, stop, queue, transfer, hang up; events go to the metrics, the call record and
//! the logs), then release the audio that is due.
//!
//! Decisions belong to the call core; this file only carries them out and must not make any.

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use super::outbound::{label_of, mark_safe};
use super::{Current, EVENT_MARK_PREFIX, Exit, Session, Tag};
use crate::call::{Action, Call, CallEvent, Input};
use crate::gateway::dialect::Outbound;
use crate::media::prompts::Playback;

impl<S> Session<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// After any input: run the core's actions, then release due audio.
    pub(super) async fn after_input(&mut self, now: Instant) -> Result<(), Exit> {
        while let Some(action) = self.call.as_mut().and_then(Call::poll_action) {
            self.act(action, now).await?;
        }
        self.pump_audio(now).await?;
        if let Some(exit) = self.exit.take() {
            // A hang-up: send the gateway's in-band command where it has one.
            if matches!(exit, Exit::Ended(_))
                && let Some(out) = self.dialect.encode(Outbound::Hangup)
            {
                let _ = self.send(out).await;
            }
            return Err(exit);
        }
        Ok(())
    }

    /// Metrics, the call record and logs for an action; no side effects on the wire.
    pub(super) fn observe(&mut self, action: &Action) {
        if let Action::Emit(ev) = action {
            if let Some(trace) = self.trace.as_mut() {
                trace.event(ev, std::time::Instant::now());
            }
            match ev {
                CallEvent::NodeEntered { node, kind } => {
                    tracing::debug!(call = %self.id(), node = %node, kind, "node");
                }
                CallEvent::Ended {
                    outcome,
                    hung_up_by,
                    node,
                } => {
                    tracing::info!(call = %self.id(), outcome = outcome.label(), by = ?hung_up_by, node = %node, "call ended");
                }
                _ => {}
            }
        }
    }

    pub(super) async fn act(&mut self, action: Action, now: Instant) -> Result<(), Exit> {
        self.observe(&action);
        match action {
            Action::Play {
                playback,
                utterances,
                language,
                repeat,
                barge_in,
            } => {
                if self.current.take().is_some() {
                    self.clear(now).await?;
                }
                match Playback::new(&self.prompts, &utterances, &language) {
                    Ok(pb) => {
                        let pb = if repeat { pb.looping() } else { pb };
                        let label = label_of(&utterances);
                        // Tells a simulator (or a gateway log) what starts now and whether a
                        // key may cut it short; echoes of it are ignored.
                        let keys = if barge_in { "barge" } else { "hold" };
                        let name = format!("{EVENT_MARK_PREFIX}play:{}:{keys}", mark_safe(&label));
                        self.send_event_mark(&name).await?;
                        self.current = Some(Current {
                            tag: Tag::Call(playback),
                            playback: pb,
                            label,
                        });
                    }
                    Err(e) => {
                        tracing::warn!(call = %self.id(), error = %e, "prompt audio missing; skipping it");
                        self.shared
                            .metrics
                            .prompt_playbacks_total
                            .with_label_values(&["missing"])
                            .inc();
                        if let Some(call) = self.call.as_mut() {
                            call.handle_input(now.into_std(), Input::PlaybackFinished(playback));
                        }
                    }
                }
            }
            Action::StopPlayback { playback } => {
                if self
                    .current
                    .as_ref()
                    .is_some_and(|c| c.tag == Tag::Call(playback))
                {
                    self.current = None;
                }
                self.shared
                    .metrics
                    .prompt_playbacks_total
                    .with_label_values(&["interrupted"])
                    .inc();
                // Always clear: audio may still be buffered at the gateway even when our own
                // queue is empty.
                self.clear(now).await?;
            }
            Action::Enqueue {
                queue,
                priority,
                skills,
                context,
            } => {
                tracing::info!(call = %self.id(), queue = %queue, priority = %priority, "queueing");
                // The record names the queue from the ask on, so the wait counts from here; a
                // refusal takes it back (`queue_notice`). The `ev:enqueue` mark waits for the
                // queue to accept.
                if let Some(trace) = self.trace.as_mut() {
                    trace.enqueued(queue.as_str(), priority.as_str(), now.into_std());
                }
                let id = self.id().clone();
                self.queue
                    .join(&self.shared.acd, id, queue, priority, skills, context);
            }
            Action::LeaveQueue { reason, .. } => {
                let id = self.id().clone();
                self.queue.leave(&self.shared.acd, id, reason);
            }
            Action::RequestCallback { .. } => {
                let id = self.id().clone();
                self.queue.request_callback(&self.shared.acd, id);
            }
            Action::Transfer { target } => {
                self.leave_by_transfer(&target, Input::TransferConnected, now)
                    .await?;
            }
            Action::Emit(CallEvent::AgentAssigned { agent }) => {
                let target = self.queue.agent_target.take().unwrap_or_else(|| {
                    self.shared
                        .config
                        .agent_uri_template
                        .replace("{agent}", agent.as_str())
                });
                self.leave_by_transfer(&target, Input::AgentCallEnded, now)
                    .await?;
            }
            Action::Hangup { reason } => {
                self.exit_after_hangup(reason.label());
            }
            Action::Emit(_) => {}
        }
        Ok(())
    }
}
