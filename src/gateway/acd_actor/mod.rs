//! The ACD behind one actor task: the only owner of the sans-IO [`Acd`](crate::queue::Acd).
//!
//! Sessions and the agents API talk to it through an [`AcdHandle`] (an mpsc channel of
//! commands, some with a reply channel). Each turn of the actor waits for one thing — a
//! command, the ACD's next deadline, the once-a-second metrics tick, shutdown — reads the
//! clock once, feeds the ACD, drains its actions and routes them:
//!
//! - to the waiting call's session, over the notice channel it handed over when it joined
//!   ([`QueueNotice`]): position, assignment (with the agent's SIP address), time-out,
//!   refusal, callback registered, overflow;
//! - to the agent's WebSocket watchers ([`AgentEvent`]): offers with the caller's context,
//!   withdrawals, state changes, connections;
//! - to the metric catalogue: entered/left counters, wait histogram, and every second the
//!   snapshot gauges (depth by class, oldest wait, service level, agents by state).
//!
//! Static agents come from a `kind: agents` file under `flows/` ([`load_agents`]); they start
//! logged out and log in through the API. A reload swaps queue configs and static agents
//! without losing callers or logged-in agents.
//!
//! It must not block: it does no file or socket I/O, and every send to a session or a watcher
//! is non-blocking. It never logs caller numbers or context values; offers carry the caller's
//! number masked and only non-secure values.
//!
//! The parts, one file each: `handle` is what sessions and the HTTP layer call;
//! `agents_file` loads the static agents; `views` builds what the agents API serves;
//! `actor` owns the ACD and dispatches commands; `route` sends the ACD's actions on.

mod actor;
mod agents_file;
mod handle;
mod route;
mod views;

#[cfg(test)]
mod fixtures;

pub use agents_file::load_agents;
pub use handle::{
    AcdHandle, ActorSettings, AgentApiError, AgentCommand, JoinRequest, LoginRequest, QueueNotice,
};
pub use views::{AgentEvent, AgentView, ClassView, OfferView, QueueView};
