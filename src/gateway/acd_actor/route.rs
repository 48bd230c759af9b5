//! Where the ACD's actions go: position, assignment, time-out, refusal, callback and overflow
//! to the waiting call's session; offers, withdrawals, state changes and connections to the
//! agent's watchers; entered/left counters and the wait histogram to the metrics.
//!
//! It must not block or decide: every send is non-blocking (a gone receiver is dropped), and
//! it only forwards what the ACD decided.

use super::actor::Actor;
use super::handle::QueueNotice;
use super::views::{AgentEvent, state_event, withdraw_label};
use crate::call::Input;
use crate::ids::{AgentId, CallId};
use crate::queue::{AcdAction, AgentState, RejectReason};

impl Actor {
    fn notify(&self, call: &CallId, notice: QueueNotice) {
        if let Some(w) = self.calls.get(call) {
            let _ = w.notices.send(notice);
        }
    }

    fn tell_agent(&mut self, agent: &AgentId, event: &AgentEvent) {
        if let Some(list) = self.watchers.get_mut(agent) {
            list.retain(|w| w.send(event.clone()).is_ok());
        }
    }

    /// Drains the ACD's actions and routes each one.
    pub(super) fn drain(&mut self) {
        while let Some(action) = self.acd.poll_action() {
            self.route(action);
        }
    }

    fn route(&mut self, action: AcdAction) {
        match action {
            AcdAction::Position {
                call,
                position,
                estimated_wait,
            } => self.notify(
                &call,
                QueueNotice::Fact(Input::QueueStatus {
                    position,
                    estimated_wait,
                }),
            ),
            AcdAction::Assigned {
                call,
                agent,
                queue,
                waited,
                callback,
            } => {
                let sip = self.sip_of(&agent);
                if let Some(w) = self.calls.get(&call) {
                    if let Some(m) = &self.metrics {
                        m.queue_wait_seconds
                            .with_label_values(&[w.queue.as_str(), w.class.as_str()])
                            .observe(waited.as_secs_f64());
                    }
                    if !w.callback {
                        self.count_left(&w.queue, &w.class, "answered");
                    }
                }
                let target = if callback {
                    "callback".to_owned()
                } else {
                    sip.clone()
                };
                self.notify(
                    &call,
                    QueueNotice::Assigned {
                        agent: agent.clone(),
                        sip,
                        queue,
                        waited,
                    },
                );
                self.calls.remove(&call);
                self.tell_agent(
                    &agent,
                    &AgentEvent::Connected {
                        call: call.0.clone(),
                        target,
                    },
                );
            }
            AcdAction::TimedOut { call, .. } => {
                if let Some(w) = self.calls.get(&call)
                    && !w.callback
                {
                    self.count_left(&w.queue, &w.class, "timed_out");
                }
                self.notify(&call, QueueNotice::Fact(Input::QueueTimedOut));
                self.calls.remove(&call);
            }
            AcdAction::Rejected { call, reason, .. } => {
                if let Some(w) = self.calls.get(&call) {
                    self.count_left(&w.queue, &w.class, "rejected");
                }
                let fact = match reason {
                    RejectReason::Full => Input::QueueFull,
                    RejectReason::NoAgents | RejectReason::UnknownQueue => Input::QueueNoAgents,
                };
                self.notify(&call, QueueNotice::Fact(fact));
                self.calls.remove(&call);
            }
            AcdAction::CallbackRegistered { call } => {
                if let Some(w) = self.calls.get_mut(&call) {
                    w.callback = true;
                    let (q, c) = (w.queue.clone(), w.class.clone());
                    self.count_left(&q, &c, "callback");
                }
                self.notify(&call, QueueNotice::Fact(Input::CallbackRegistered));
            }
            AcdAction::Overflowed { call, from, to } => {
                let class = self.calls.get(&call).map(|w| w.class.clone());
                if let Some(class) = class {
                    self.count_left(&from, &class, "overflowed");
                    let new_class = self.class_in(&to, &class);
                    self.count_entered(&to, &new_class);
                    if let Some(w) = self.calls.get_mut(&call) {
                        w.queue = to.clone();
                        w.class = new_class;
                    }
                }
                self.notify(&call, QueueNotice::Overflowed { to });
            }
            AcdAction::Offer(offer) => {
                let view = self.offer_view(&offer);
                self.tell_agent(&offer.agent, &AgentEvent::Offer(view));
                self.open_offers.insert(offer.agent.clone(), offer);
            }
            AcdAction::OfferWithdrawn {
                agent,
                call,
                reason,
            } => {
                self.open_offers.remove(&agent);
                self.tell_agent(
                    &agent,
                    &AgentEvent::OfferWithdrawn {
                        call: call.0,
                        reason: withdraw_label(reason),
                    },
                );
            }
            AcdAction::AgentState { agent, state } => {
                if !matches!(state, AgentState::Offered { .. }) {
                    self.open_offers.remove(&agent);
                }
                self.tell_agent(&agent, &state_event(&state));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::super::fixtures::{join, start};
    use super::super::handle::{AgentApiError, AgentCommand, LoginRequest};
    use super::*;

    #[tokio::test]
    async fn an_accepted_offer_sends_the_caller_to_the_agents_address() {
        let (h, m, _stop) = start();
        let agent = AgentId::from("a1");
        h.login(agent.clone(), LoginRequest::default())
            .await
            .unwrap();
        let (_, mut events) = h.subscribe(agent.clone()).await.unwrap();
        assert_eq!(
            events.recv().await,
            Some(AgentEvent::State {
                state: "ready",
                reason: None
            })
        );
        let mut notices = h.join(join("CA1", "normal"));
        assert!(matches!(
            notices.recv().await,
            Some(QueueNotice::Fact(Input::QueueStatus { position: 0, .. }))
        ));
        let offer = loop {
            match events.recv().await.unwrap() {
                AgentEvent::Offer(o) => break o,
                _ => continue,
            }
        };
        assert_eq!(offer.call, "CA1");
        assert_eq!(offer.class, "normal");
        assert_eq!(offer.values["tier"], "gold");
        assert_eq!(offer.caller.as_deref(), Some("+86138******00"));
        let view = h
            .agent(
                agent.clone(),
                AgentCommand::Accept {
                    call: CallId::from("CA1"),
                },
            )
            .await
            .unwrap();
        assert_eq!(view.state, "busy");
        match notices.recv().await.unwrap() {
            QueueNotice::Assigned { agent: a, sip, .. } => {
                assert_eq!(a, agent);
                assert_eq!(sip, "sip:a1@pbx.test");
            }
            other => panic!("expected an assignment, got {other:?}"),
        }
        // A second accept no longer fits.
        let err = h
            .agent(
                agent.clone(),
                AgentCommand::Accept {
                    call: CallId::from("CA1"),
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(err, AgentApiError::Refused(_)));
        let view = h
            .agent(agent.clone(), AgentCommand::CallEnded)
            .await
            .unwrap();
        assert_eq!(view.state, "wrap_up");
        let view = h.agent(agent, AgentCommand::WrapUpDone).await.unwrap();
        assert_eq!(view.state, "ready");
        let text = m.render();
        assert!(text.contains(
            "ivr_queue_left_total{class=\"normal\",queue=\"general\",result=\"answered\"} 1"
        ));
        assert!(text.contains("ivr_queue_entered_total{class=\"normal\",queue=\"general\"} 1"));
    }

    #[tokio::test]
    async fn a_full_queue_refuses_the_caller_with_queue_full() {
        let (h, _m, _stop) = start();
        let mut keep = Vec::new();
        for i in 0..10 {
            keep.push(h.join(join(&format!("CA{i}"), "normal")));
        }
        let mut last = h.join(join("CA-late", "normal"));
        assert_eq!(last.recv().await, Some(QueueNotice::Fact(Input::QueueFull)));
    }
}
