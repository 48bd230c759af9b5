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
    /// The queue and class last asked for, until the actor accepts or refuses the caller.
    unanswered: Option<(QueueId, PriorityClass)>,
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
        self.unanswered = Some((queue.clone(), class.clone()));
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
        self.unanswered = None;
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

    /// The queue and class the caller just got into, when `notice` is the actor's first
    /// answer to a join and not a refusal (`QueueFull`, `QueueNoAgents`); `None` otherwise.
    /// Any other first answer (the position announced on joining, or an assignment) means the
    /// caller waits there. Call before [`QueueLink::on_notice`].
    pub fn accepted(&mut self, notice: &QueueNotice) -> Option<(QueueId, PriorityClass)> {
        let refused = matches!(
            notice,
            QueueNotice::Fact(Input::QueueFull | Input::QueueNoAgents)
        );
        let asked = self.unanswered.take()?;
        (!refused).then_some(asked)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(queue: &str, class: &str) -> QueueLink {
        QueueLink {
            unanswered: Some((QueueId::new(queue), PriorityClass::new(class))),
            ..QueueLink::default()
        }
    }

    fn position() -> QueueNotice {
        QueueNotice::Fact(Input::QueueStatus {
            position: 0,
            estimated_wait: None,
        })
    }

    #[test]
    fn the_first_answer_that_is_not_a_refusal_names_the_queue_once() {
        let mut link = asked("general", "normal");
        assert_eq!(
            link.accepted(&position()),
            Some((QueueId::new("general"), PriorityClass::new("normal")))
        );
        assert_eq!(link.accepted(&position()), None, "told once");
    }

    #[test]
    fn a_refused_caller_is_never_reported_queued() {
        for refusal in [Input::QueueFull, Input::QueueNoAgents] {
            let mut link = asked("general", "normal");
            assert_eq!(link.accepted(&QueueNotice::Fact(refusal.clone())), None);
            assert_eq!(link.accepted(&position()), None, "{refusal:?}");
        }
    }

    #[test]
    fn a_caller_assigned_at_once_was_queued_first() {
        let mut link = asked("wealth", "vip");
        let assigned = QueueNotice::Assigned {
            agent: AgentId::new("a1"),
            sip: "sip:a1@x.invalid".into(),
            queue: QueueId::new("wealth"),
            waited: Duration::ZERO,
        };
        assert_eq!(
            link.accepted(&assigned),
            Some((QueueId::new("wealth"), PriorityClass::new("vip")))
        );
    }

    fn context() -> QueueContext {
        QueueContext {
            flow: crate::ids::FlowId::new("hotline"),
            line: "95017".into(),
            dialled: "95017".into(),
            path: vec![],
            vars: BTreeMap::new(),
        }
    }

    /// A link joined through a live actor that serves no queue at all.
    fn joined(acd: &AcdHandle) -> QueueLink {
        let mut link = QueueLink::default();
        link.join(
            acd,
            CallId::new("CA-1"),
            QueueId::new("nowhere"),
            PriorityClass::new("normal"),
            vec![],
            context(),
        );
        link
    }

    #[tokio::test]
    async fn a_join_the_actor_refuses_is_not_reported_queued_and_a_left_one_neither() {
        let stop = tokio_util::sync::CancellationToken::new();
        let (acd, _task) = AcdHandle::spawn(vec![], vec![], None, Default::default(), stop.clone());
        let mut link = joined(&acd);
        let notice = QueueLink::next_notice(&mut link.notices).await;
        let notice = notice.expect("the actor answers a join");
        assert_eq!(notice, QueueNotice::Fact(Input::QueueNoAgents));
        assert_eq!(link.accepted(&notice), None);

        let mut link = joined(&acd);
        link.leave(&acd, CallId::new("CA-1"), CallLeave::Exited);
        assert_eq!(link.accepted(&position()), None, "the flow left first");
        stop.cancel();
    }
}
