//! # ivr: a telephony IVR engine
//!
//! YAML call-flow graphs drive a per-call state machine, fed by a media-stream WebSocket from
//! a SIP gateway. The engine hears DTMF in the caller's audio (and takes the gateway's digit
//! events), plays prompts from WAV files and routes callers to priority agent queues.
//!
//! ## How it fits
//!
//! ```text
//!  SIP gateway ──ws──▶ gateway (shell) ──Input──▶ call (core) ──Action──▶ gateway ──ws──▶ caller
//!                       dialects, G.711,          per-call state          play, stop,
//!                       DTMF via media (core)     machine over a flow     enqueue, transfer
//!                              │
//!                        queue (core ACD) ◀── agents API (http shell)
//!                              │
//!                        telemetry (Prometheus, tracing) · cdr (call records)
//! ```
//!
//! **Cores** never touch sockets, files (beyond loading), the clock, the runtime or global
//! metrics; they take time as an argument and emit commands:
//!
//! | module | job |
//! |---|---|
//! | [`flow`] | YAML → compiled, validated, immutable graph; every problem at once |
//! | `call` | one call's state machine: facts in, actions out, named timers |
//! | `media` | G.711, DTMF detection and generation, prompt frames |
//! | `queue` | the ACD: priority classes with aging, agents, dispatch |
//!
//! **Shells** own every side effect: the gateway's WebSocket server, the admin HTTP side,
//! telemetry, the call-record store and the command line. Dependencies point inward only.
//!
//! ## What a call leaves behind
//!
//! The call core reports what happened as `Action::Emit(CallEvent)`; the session hands every
//! event to the call's trace (`gateway::trace`), which keeps the live gauges (calls active per
//! line, calls per flow node), counts node entries and menu failures, and writes the call
//! record twice through the record store's writer thread: a start row when the call is routed
//! and the complete row when it ends, before the call's slot is released. The queue actor
//! owns the queue and agent series and refreshes them on every scrape. One
//! [`telemetry::Metrics`] registry per engine holds every series, all created at zero from
//! the loaded flows, so tests run as many engines as they like.
//!
//! ## Three clocks
//!
//! Control time is [`std::time::Instant`], passed in. Media time is a sample count at 8 kHz
//! ([`ids::SampleCount`]); DSP never sees an `Instant`. Wall-clock time appears only in logs,
//! call records and calendar evaluation (passed in as a value).

pub mod call;
pub mod cdr;
pub mod cli;
pub mod flow;
pub mod flowtest;
pub mod gateway;
pub mod ids;
pub mod load;
pub mod media;
pub mod queue;
pub mod sim;
pub mod telemetry;
