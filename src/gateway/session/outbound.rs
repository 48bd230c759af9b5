//! What the session writes to the gateway: prompt audio topped up by the playout pump (several
//! frames per message), the end mark of each prompt, informational `ev:` marks, `clear` on
//! barge-in, and every send bounded by the write timeout (a gateway that stops reading ends
//! its call as a slow consumer).
//!
//! It must not read from the socket nor feed the call core.

use futures_util::SinkExt as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;

use super::{Exit, Session};
use crate::flow::model::Utterance;
use crate::gateway::dialect::{Capability, Codec, Outbound, WireOut};
use crate::media::prompts::FRAME_SAMPLES;

/// What a prompt says, for marks and logs: its prompt ids (numbers and digits by kind) joined by `+`.
pub(super) fn label_of(utterances: &[Utterance]) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for u in utterances {
        match u {
            Utterance::Prompt(p) => parts.push(p.as_str()),
            Utterance::Number(_) => parts.push("number"),
            Utterance::Digits(_) => parts.push("digits"),
        }
    }
    parts.join("+")
}

/// Keeps bounded, safe characters of a value put in an informational mark.
pub(super) fn mark_safe(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+' | '.' | '@' | ':'))
        .take(80)
        .collect()
}

impl<S> Session<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    pub(super) async fn send_event_mark(&mut self, name: &str) -> Result<(), Exit> {
        if !self.dialect.supports(Capability::Marks) {
            return Ok(());
        }
        match self.dialect.encode(Outbound::Mark(name)) {
            Some(out) => self.send(out).await,
            None => Ok(()),
        }
    }

    pub(super) async fn clear(&mut self, now: Instant) -> Result<(), Exit> {
        self.playout.clear(now.into_std());
        if let Some(out) = self.dialect.encode(Outbound::Clear) {
            self.send(out).await?;
        }
        Ok(())
    }

    /// Tops up the playout when it is due: every frame due now, batched into one message; and
    /// the end mark of a prompt whose audio is all out.
    pub(super) async fn pump_audio(&mut self, now: Instant) -> Result<(), Exit> {
        let std_now = now.into_std();
        self.out_bytes.clear();
        let mut ended = false;
        if let Some(cur) = self.current.as_mut()
            && self.playout.refill_due(std_now)
        {
            while self.playout.frame_due(std_now) {
                if !cur.playback.next_frame(&mut self.frame) {
                    ended = true;
                    break;
                }
                let start = self.out_bytes.len();
                match (self.law, self.codec) {
                    (Some(law), _) => {
                        self.out_bytes.resize(start + FRAME_SAMPLES, 0);
                        if law
                            .encode_frame(&self.frame, &mut self.out_bytes[start..])
                            .is_err()
                        {
                            self.out_bytes.truncate(start);
                        }
                    }
                    (None, Codec::L16 { big_endian }) => {
                        for s in self.frame {
                            let b = if big_endian {
                                s.to_be_bytes()
                            } else {
                                s.to_le_bytes()
                            };
                            self.out_bytes.extend_from_slice(&b);
                        }
                    }
                    (None, _) => {}
                }
                self.playout.frame_sent(std_now);
            }
        }
        if !self.out_bytes.is_empty() {
            let bytes = std::mem::take(&mut self.out_bytes);
            let out = self.dialect.encode(Outbound::Play(&bytes));
            self.out_bytes = bytes;
            if let Some(out) = out {
                self.send(out).await?;
            }
        }
        if ended && let Some(cur) = self.current.take() {
            let name = self.playout.mark(std_now, &cur.label, cur.tag);
            if self.dialect.supports(Capability::Marks)
                && let Some(out) = self.dialect.encode(Outbound::Mark(&name))
            {
                self.send(out).await?;
            }
        }
        Ok(())
    }

    pub(super) async fn send(&mut self, out: WireOut) -> Result<(), Exit> {
        let msg = match out {
            WireOut::Text(t) => Message::text(t),
            WireOut::Binary(b) => Message::binary(b),
        };
        match timeout(self.shared.config.write_timeout, self.ws.send(msg)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(tokio_tungstenite::tungstenite::Error::WriteBufferFull(_))) | Err(_) => {
                self.protocol_error("slow_consumer");
                Err(Exit::WriteStalled)
            }
            Ok(Err(_)) => Err(Exit::SocketError),
        }
    }
}
