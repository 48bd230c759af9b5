//! The gateway's side of a turn: one socket read turned into one fact (decoded by the
//! dialect, a refusal counted as a protocol error), inbound audio put back in media-timestamp
//! order and run through the DTMF detector, digits from tones and from the gateway's events
//! de-duplicated and fed to the call core, and echoed playback marks resolved.
//!
//! It writes nothing itself: what a fact makes the call do goes out through `after_input`
//! (`actions.rs`, `outbound.rs`). Nothing here panics on what a gateway sends, and digits
//! never reach logs.

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::{EVENT_MARK_PREFIX, Exit, Session, Tag};
use crate::call::Input;
use crate::gateway::dedupe::DigitSource;
use crate::gateway::dialect::{Codec, Fault, Inbound, WireIn};
use crate::gateway::playout::MarkOutcome;
use crate::gateway::reorder::Pushed;
use crate::ids::{CallId, Digit};
use crate::media::dtmf::DtmfEvent;
use crate::media::prompts::FRAME_SAMPLES;

impl<S> Session<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Turns one socket read into one fact. `Ok(None)`: nothing to do (ping, pong).
    pub(super) fn decode(
        &mut self,
        msg: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    ) -> Result<Option<Inbound>, Exit> {
        let msg = match msg {
            None => {
                return Ok(Some(Inbound::Stopped(
                    crate::gateway::dialect::StopReason::StreamStopped,
                )));
            }
            Some(Err(e)) => {
                use tokio_tungstenite::tungstenite::Error as E;
                return match e {
                    E::Capacity(_) => {
                        self.protocol_error("oversize");
                        Err(Exit::Malformed("oversize"))
                    }
                    E::Utf8(_) => {
                        self.protocol_error("bad_utf8");
                        Err(Exit::Malformed("bad_utf8"))
                    }
                    E::Protocol(_) => {
                        self.protocol_error("bad_frame");
                        Err(Exit::Malformed("bad_frame"))
                    }
                    E::ConnectionClosed | E::AlreadyClosed => Ok(Some(Inbound::Stopped(
                        crate::gateway::dialect::StopReason::StreamStopped,
                    ))),
                    _ => Err(Exit::SocketError),
                };
            }
            Some(Ok(m)) => m,
        };
        let wire = match &msg {
            Message::Text(t) => WireIn::Text(t.as_str()),
            Message::Binary(b) => WireIn::Binary(b),
            Message::Close(_) => {
                return Ok(Some(Inbound::Stopped(
                    crate::gateway::dialect::StopReason::StreamStopped,
                )));
            }
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => return Ok(None),
        };
        match self.dialect.decode(wire) {
            Ok(ev) => Ok(Some(ev)),
            Err(e) => {
                let reason = e.reason();
                self.protocol_error(reason);
                tracing::warn!(call = ?self.call_id.as_ref().map(CallId::as_str), gateway = %self.kind, error = %e, "gateway message refused; ending this call");
                Err(match e.fault() {
                    Fault::Malformed => Exit::Malformed(reason),
                    Fault::Unsupported => Exit::Unsupported(reason),
                })
            }
        }
    }

    pub(super) async fn handle_inbound(&mut self, ev: Inbound, now: Instant) -> Result<(), Exit> {
        match ev {
            Inbound::Audio { payload, ts_ms } => {
                // Frames in media-timestamp order: the DTMF detector needs contiguous audio.
                let samples = payload.len() / self.codec.bytes_per_sample();
                let duration_ms = (samples / (FRAME_SAMPLES / 20)) as u64;
                let mut frames = std::mem::take(&mut self.released);
                let mut n = 0;
                let pushed = self.reorder.push(ts_ms, duration_ms, payload, |f| {
                    match frames.get_mut(n) {
                        Some(buf) => {
                            buf.clear();
                            buf.extend_from_slice(f);
                        }
                        None => frames.push(f.to_vec()),
                    }
                    n += 1;
                });
                if pushed == Pushed::Late {
                    self.shared.metrics.media_frames_late_total.inc();
                }
                for f in frames.iter().take(n) {
                    let began = std::time::Instant::now();
                    self.inbound_audio(f, now);
                    self.shared
                        .metrics
                        .frame_handling_seconds
                        .observe(began.elapsed().as_secs_f64());
                }
                self.released = frames;
            }
            Inbound::Dtmf { digit } => self.digit(digit, DigitSource::Gateway, now),
            Inbound::MarkEchoed { name } => {
                if !name.starts_with(EVENT_MARK_PREFIX) {
                    let outcome = self.playout.echoed(&name);
                    self.mark_resolved(outcome, now);
                }
            }
            Inbound::Stopped(_) => {
                self.hang_up_core(now);
                return Err(Exit::CallerHungUp);
            }
            Inbound::Paused => self.playout.set_paused(true),
            Inbound::Resumed => self.playout.set_paused(false),
            Inbound::Started(_) => self.protocol_error("repeated_start"),
            Inbound::Connected | Inbound::Ignored { .. } => {}
        }
        self.after_input(now).await
    }

    pub(super) fn inbound_audio(&mut self, payload: &[u8], now: Instant) {
        self.pcm.clear();
        match (self.law, self.codec) {
            (Some(law), _) => {
                self.pcm.resize(payload.len(), 0);
                if law.decode_frame(payload, &mut self.pcm).is_err() {
                    return;
                }
            }
            (None, Codec::L16 { big_endian }) => {
                self.pcm.extend(payload.chunks_exact(2).map(|b| {
                    if big_endian {
                        i16::from_be_bytes([b[0], b[1]])
                    } else {
                        i16::from_le_bytes([b[0], b[1]])
                    }
                }));
            }
            (None, _) => return,
        }
        let mut heard: [Option<Digit>; 4] = [None; 4];
        let mut n = 0;
        let pcm = std::mem::take(&mut self.pcm);
        self.detector.process(&pcm, |ev| {
            if let DtmfEvent::Started { digit, .. } = ev
                && n < heard.len()
            {
                heard[n] = Some(digit);
                n += 1;
            }
        });
        self.pcm = pcm;
        for digit in heard.into_iter().flatten() {
            self.digit(digit, DigitSource::InBand, now);
        }
    }

    pub(super) fn digit(&mut self, digit: Digit, source: DigitSource, now: Instant) {
        if !self.dedupe.accept(digit, source, now.into_std()) {
            self.shared.metrics.dtmf_duplicates_total.inc();
            return;
        }
        self.shared
            .metrics
            .dtmf_digits_total
            .with_label_values(&[source.label()])
            .inc();
        if let Some(call) = self.call.as_mut() {
            call.handle_input(now.into_std(), Input::DigitReceived(digit));
        }
    }

    pub(super) fn mark_resolved(&mut self, outcome: MarkOutcome<Tag>, _now: Instant) {
        let (label, tag) = match outcome {
            MarkOutcome::Played(tag) => ("played", Some(tag)),
            MarkOutcome::TimedOut(tag) => ("timed_out", Some(tag)),
            MarkOutcome::Cleared(_) => ("cleared", None),
            MarkOutcome::Unknown => ("unknown", None),
        };
        self.shared
            .metrics
            .marks_total
            .with_label_values(&[label])
            .inc();
        match tag {
            Some(Tag::Call(id)) => {
                self.shared
                    .metrics
                    .prompt_playbacks_total
                    .with_label_values(&["completed"])
                    .inc();
                if let Some(call) = self.call.as_mut() {
                    call.handle_input(_now.into_std(), Input::PlaybackFinished(id));
                }
            }
            Some(Tag::NotInService) => {
                self.exit_after_hangup("not_in_service");
            }
            None => {}
        }
    }
}
