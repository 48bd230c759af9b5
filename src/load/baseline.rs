//! The bare baseline server for side-by-side capacity figures: the same WebSocket stack and
//! configuration as the engine's media listener, accepting the same Twilio calls, with none of
//! the engine's work. It parses each message (typed serde, borrowed), decodes the payload,
//! checks it for a tone by level (keys are the only non-silent audio the generator sends),
//! takes `dtmf` events too, and answers each key by `clear` and restarting a stored tone. The
//! tone plays in a loop at most 200 ms ahead of real time (the engine's `playout_lead`), with a
//! mark at the end of each pass. By default it sends each 20 ms frame as it falls due — what a
//! minimal media-streams server does; `refill` makes it top up in chunks by the engine's rule
//! (`playout_refill`) for a like-for-like comparison of the rest of the work. No flows, no
//! DTMF detector, no queues, no metrics. It must stay this bare: its only job is to be the
//! floor the engine is measured against.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_util::{SinkExt as _, StreamExt as _};
use serde::Deserialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, sleep_until};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::media::g711::Law;

/// Frames of the stored tone (3 s).
const TONE_FRAMES: usize = 150;
/// Samples per 20 ms frame.
const FRAME_SAMPLES: usize = 160;
/// One frame.
const FRAME: Duration = Duration::from_millis(20);
/// How far ahead of real time audio is sent (the engine's default `playout_lead`).
const LEAD: Duration = Duration::from_millis(200);
/// A μ-law sample louder than this is a key tone (the generator's keys are −10 dBm0 per tone,
/// peaks near 2,900 each; its silence is 0).
const TONE_LEVEL: i16 = 1000;
/// A tone and an event within this window are one key.
const SAME_KEY: Duration = Duration::from_millis(300);

#[derive(Deserialize)]
struct In<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(default, borrow)]
    media: Option<MediaIn<'a>>,
}

#[derive(Deserialize)]
struct MediaIn<'a> {
    #[serde(borrow)]
    payload: Cow<'a, str>,
}

/// The stored tone, μ-law, built once.
fn stored_tone() -> Arc<[u8]> {
    (0..TONE_FRAMES * FRAME_SAMPLES)
        .map(|i| {
            let s = (i as f32 * 440.0 * std::f32::consts::TAU / 8000.0).sin() * 3000.0;
            Law::Mulaw.encode(s as i16)
        })
        .collect()
}

/// The engine's media listener settings (its `ws_config` with the default limits).
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .max_message_size(Some(64 * 1024))
        .max_frame_size(Some(64 * 1024))
        .write_buffer_size(0)
        .max_write_buffer_size(256 * 1024)
}

/// Serves calls on `listener` until the process ends, topping up playout in chunks of about
/// `refill` (one frame: a message per frame).
pub async fn serve(listener: TcpListener, refill: Duration) {
    let refill = refill.clamp(FRAME, LEAD);
    let tone = stored_tone();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(call(stream, Arc::clone(&tone), refill));
    }
}

/// Runs the baseline on `addr` on a multi-thread runtime (like `ivr serve`), forever.
pub fn run(addr: SocketAddr, refill: Duration) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = TcpListener::bind(addr).await?;
        eprintln!("baseline serving on ws://{}/twilio", listener.local_addr()?);
        serve(listener, refill).await;
        Ok(())
    })
}

struct Bare {
    tone: Arc<[u8]>,
    refill: Duration,
    pos: usize,
    horizon: Option<Instant>,
    playing: bool,
    loud: bool,
    last_key: Option<Instant>,
    passes: u64,
    payload: [u8; 1024],
}

async fn call(stream: TcpStream, tone: Arc<[u8]>, refill: Duration) {
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(stream, Some(ws_config())).await
    else {
        return;
    };
    let mut b = Bare {
        tone,
        refill,
        pos: 0,
        horizon: None,
        playing: false,
        loud: false,
        last_key: None,
        passes: 0,
        payload: [0; 1024],
    };
    loop {
        let wake = b.horizon.filter(|_| b.playing).map_or_else(
            || Instant::now() + Duration::from_secs(3600),
            |h| h + b.refill - LEAD,
        );
        let msg = tokio::select! {
            msg = ws.next() => msg,
            () = sleep_until(wake) => {
                if b.pump(&mut ws, Instant::now()).await.is_err() {
                    return;
                }
                continue;
            }
        };
        let Some(Ok(msg)) = msg else { return };
        let now = Instant::now();
        let text = match &msg {
            Message::Text(t) => t.as_str(),
            Message::Close(_) => return,
            _ => continue,
        };
        let Ok(m) = serde_json::from_str::<In<'_>>(text) else {
            return;
        };
        let key = match m.event.as_ref() {
            "start" => {
                b.playing = true;
                false
            }
            "media" => m.media.is_some_and(|md| b.tone_started(&md.payload)),
            "dtmf" => true,
            "stop" => return,
            _ => false,
        };
        if key && b.last_key.is_none_or(|t| now.duration_since(t) > SAME_KEY) {
            b.last_key = Some(now);
            if ws
                .send(Message::text(r#"{"event":"clear","streamSid":"MZ0"}"#))
                .await
                .is_err()
            {
                return;
            }
            b.horizon = None;
            b.pos = 0;
        }
        if b.pump(&mut ws, now).await.is_err() {
            return;
        }
    }
}

impl Bare {
    /// Whether this payload starts a tone (silence before it).
    fn tone_started(&mut self, payload: &str) -> bool {
        let Ok(n) = BASE64.decode_slice(payload.as_bytes(), &mut self.payload) else {
            return false;
        };
        let loud = self.payload[..n]
            .iter()
            .any(|&c| Law::Mulaw.decode(c).unsigned_abs() > TONE_LEVEL.unsigned_abs());
        let started = loud && !self.loud;
        self.loud = loud;
        started
    }

    /// Sends the frames due (batched in one message), and a mark at the end of each pass.
    async fn pump<S>(
        &mut self,
        ws: &mut tokio_tungstenite::WebSocketStream<S>,
        now: Instant,
    ) -> Result<(), ()>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        if !self.playing {
            return Ok(());
        }
        let ahead = self
            .horizon
            .map_or(Duration::ZERO, |h| h.saturating_duration_since(now));
        if ahead + self.refill > LEAD + FRAME {
            return Ok(());
        }
        let start = self.pos;
        let mut end_of_pass = false;
        loop {
            let ahead = self
                .horizon
                .map_or(Duration::ZERO, |h| h.saturating_duration_since(now));
            if ahead + FRAME > LEAD || end_of_pass {
                break;
            }
            self.horizon = Some(self.horizon.filter(|h| *h > now).unwrap_or(now) + FRAME);
            self.pos += 1;
            end_of_pass = self.pos == TONE_FRAMES;
        }
        if self.pos > start {
            let bytes = &self.tone[start * FRAME_SAMPLES..self.pos * FRAME_SAMPLES];
            let msg = format!(
                r#"{{"event":"media","streamSid":"MZ0","media":{{"payload":"{}"}}}}"#,
                BASE64.encode(bytes)
            );
            ws.send(Message::text(msg)).await.map_err(|_| ())?;
        }
        if end_of_pass {
            self.passes += 1;
            self.pos = 0;
            let mark = format!(
                r#"{{"event":"mark","streamSid":"MZ0","mark":{{"name":"{}:tone"}}}}"#,
                self.passes
            );
            ws.send(Message::text(mark)).await.map_err(|_| ())?;
        }
        Ok(())
    }
}
