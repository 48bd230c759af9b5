//! One call's side of the ACD, held by its session: the queue it joined, the notice channel
//! the actor answers on, and where an assigned agent is reached.
//!
//! It turns the call core's queue actions into actor commands and the actor's notices into
//! call-core inputs. It must not decide anything about the call (the core does) nor block:
//! every send to the actor is non-blocking.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::call::{Input, LeaveReason as CallLeave, QueueContext};
use crate::flow::model::Value;
use crate::gateway::acd_actor::{AcdHandle, JoinRequest, QueueNotice};
use crate::gateway::session::Exit;
use crate::ids::{AgentId, CallId, PriorityClass, QueueId};
use crate::queue::{CallerContext, LeaveReason};

/// The queue side of one session.
#[derive(Debug, Default)]
pub struct QueueLink {
    /// Notices from the actor while the call waits.
    pub notices: Option<mpsc::UnboundedReceiver<QueueNotice>>,
    /// The caller's number, masked (for the agent's offer).
    pub caller_masked: Option<String>,
    /// The assigned agent's address, taken by the transfer.
    pub agent_target: Option<String>,
    /// The call waits in a queue (joined, not yet answered, left or refused).
    waiting: Option<CallId>,
    /// The queue the call last waited in (after overflows).
    pub queue: Option<QueueId>,
    /// The class it joined with.
    pub class: Option<PriorityClass>,
    /// The agent who took the call.
    pub agent: Option<AgentId>,
    /// Time waited until an agent took it.
    pub waited: Option<Duration>,
}

/// A flow value as text for the agent; `None` for unset values.
fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(if n.fract() == 0.0 && n.abs() < 1e15 {
            format!("{n:.0}")
        } else {
            n.to_string()
        }),
        Value::Str(s) => Some(s.clone()),
    }
}

/// The agent-facing context of a call: line, flow, path and the non-secure variables (the
/// call core never puts secure ones in a [`QueueContext`]).
pub fn caller_context(ctx: QueueContext) -> CallerContext {
    let values: BTreeMap<String, String> = ctx
        .vars
        .iter()
        .filter_map(|(k, v)| value_text(v).map(|t| (k.clone(), t)))
        .collect();
    CallerContext {
        line: ctx.line,
        flow: ctx.flow,
        path: ctx.path,
        values,
    }
}

impl QueueLink {
    /// Asks the actor to queue the call (`Action::Enqueue`).
    pub fn join(
        &mut self,
        acd: &AcdHandle,
        call: CallId,
        queue: QueueId,
        class: PriorityClass,
        skills: Vec<String>,
        context: QueueContext,
    ) {
        self.queue = Some(queue.clone());
        self.class = Some(class.clone());
        self.waiting = Some(call.clone());
        self.notices = Some(acd.join(JoinRequest {
            call,
            queue,
            class,
            skills,
            context: caller_context(context),
            caller_masked: self.caller_masked.clone(),
        }));
    }

    /// The flow left the queue (`Action::LeaveQueue`).
    pub fn leave(&mut self, acd: &AcdHandle, call: CallId, reason: CallLeave) {
        if self.waiting.take().is_some() {
            let reason = match reason {
                CallLeave::Exited => LeaveReason::Exited,
                CallLeave::Abandoned => LeaveReason::Abandoned,
                CallLeave::MaxDuration => LeaveReason::HungUp,
            };
            acd.leave(call, reason);
        }
    }

    /// The caller asked for a callback (`Action::RequestCallback`).
    pub fn request_callback(&mut self, acd: &AcdHandle, call: CallId) {
        if self.waiting.is_some() {
            acd.request_callback(call);
        }
    }

    /// The session ended: a call still waiting leaves (abandoned when the caller hung up).
    pub(crate) fn call_ended(&mut self, acd: &AcdHandle, exit: &Exit) {
        if let Some(call) = self.waiting.take() {
            let reason = match exit {
                Exit::CallerHungUp => LeaveReason::Abandoned,
                _ => LeaveReason::HungUp,
            };
            acd.leave(call, reason);
        }
        self.notices = None;
    }

    /// Updates what the link knows from a notice and returns the input for the call core.
    pub fn on_notice(&mut self, notice: QueueNotice) -> Option<Input> {
        match notice {
            QueueNotice::Fact(input) => {
                if matches!(
                    input,
                    Input::QueueTimedOut | Input::QueueFull | Input::QueueNoAgents
                ) {
                    self.waiting = None;
                }
                Some(input)
            }
            QueueNotice::Assigned {
                agent,
                sip,
                queue,
                waited,
            } => {
                self.waiting = None;
                self.agent_target = Some(sip);
                self.queue = Some(queue);
                self.agent = Some(agent.clone());
                self.waited = Some(waited);
                Some(Input::AgentAssigned { agent })
            }
            QueueNotice::Overflowed { to } => {
                self.queue = Some(to);
                None
            }
        }
    }

    /// Waits for the next notice; pending forever when the call is in no queue.
    pub async fn next_notice(
        notices: &mut Option<mpsc::UnboundedReceiver<QueueNotice>>,
    ) -> Option<QueueNotice> {
        match notices {
            Some(rx) => {
                let n = rx.recv().await;
                if n.is_none() {
                    *notices = None;
                }
                n
            }
            None => std::future::pending().await,
        }
    }
}
