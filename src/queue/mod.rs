//! The ACD (automatic call distributor): priority queues with a capped strict lane and aging
//! classes, agents and their states, skills with widening routing steps, dispatch to the
//! longest-idle eligible agent, overflow at `max_wait`, callbacks that keep their place, and
//! honest position and wait estimates.
//!
//! A sans-IO core, shaped like the call core and quinn-proto's `Connection`:
//!
//! ```text
//!  shell (one actor task)            Acd
//!  ───────────────────────           ───────────────────────────────
//!  fact + now          ──handle──▶   updates queues, agents, timers
//!  deadline passed     ──handle_timeout──▶
//!  drain               ◀─poll_action──  Offer, Assigned, Position, ...
//!  re-arm one sleep    ◀─poll_timeout──
//!  metrics / API       ◀─snapshot(now)──
//! ```
//!
//! It must not read a clock, sleep, spawn, touch sockets or files, or update global metrics:
//! the shell owns all of that. It never logs caller numbers or context values. The rules it
//! applies are written once, on [`Acd`].

mod acd;
pub mod agents;
mod event;
mod snapshot;
mod timers;

pub use acd::{Acd, AcdSettings, MISSED_OFFERS_REASON};
pub use event::{
    AcdAction, AcdInput, AgentState, CallerContext, DispatchRule, LeaveReason, Offer, OfferReason,
    RejectReason, WithdrawReason,
};
pub use snapshot::{AcdSnapshot, AgentSnapshot, QueueCounters, QueueSnapshot};

#[cfg(test)]
mod tests;
