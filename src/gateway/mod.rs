//! The gateway shell: where SIP gateways' media WebSockets meet the call core.
//!
//! It owns every side effect of a call: sockets, the clock, timers, the runtime. It translates
//! gateway dialects into the engine's facts, runs one task per call that feeds the sans-IO
//! [`Call`](crate) core, paces prompt audio, and serves the admin listener. It must not hold
//! flow logic: what a call does next is decided by the call core, never here.

pub mod acd_actor;
pub mod agents_api;
pub mod auth;
pub mod config;
pub mod dedupe;
pub mod dialect;
pub mod playout;
pub mod queue_link;
pub mod registry;
pub mod reload;
pub mod reorder;
pub mod server;
pub mod session;
pub mod trace;
