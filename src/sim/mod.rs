//! The caller simulator: connects to the engine exactly as a gateway would and plays a caller.
//!
//! It speaks Twilio Media Streams or Asterisk `chan_websocket`, sends real-time 20 ms frames
//! (silence, or DTMF tones from the media generator), sends digit events if asked, and plays
//! the gateway's part in the mark/clear protocol: received audio goes into a playout buffer
//! drained at real time; a mark is echoed when the audio before it has "played" (or at once
//! when nothing is buffered), `clear`/`FLUSH_MEDIA` empties the buffer and echoes every pending
//! mark. The result is a [`Transcript`]: prompts heard with times (the engine names prompts in
//! its marks), digits pressed, queue and transfer notices, and how the call left; plus the
//! audio the caller heard.
//!
//! This is a test and ops tool; it must never be linked into the serving path.

pub mod agents;

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::gateway::dialect::DialectKind;
use crate::ids::Digit;
use crate::media::dtmf::{ToneSpec, millis, push_digits};
use crate::media::g711::Law;

const FRAME: usize = 160;

/// How key presses reach the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DtmfMode {
    /// As tones in the caller's audio.
    InBand,
    /// As gateway digit events only.
    Event,
    /// Both (the engine must count each press once).
    Both,
}

impl std::str::FromStr for DtmfMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "inband" => Ok(DtmfMode::InBand),
            "event" => Ok(DtmfMode::Event),
            "both" => Ok(DtmfMode::Both),
            other => Err(format!("unknown DTMF mode {other:?} (inband, event, both)")),
        }
    }
}

/// One step of the caller's script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Press a key (80 ms tone, 80 ms gap) as a caller would: once the engine is playing a
    /// prompt a key may cut short (it names each prompt as it starts, with whether keys are
    /// taken), a short reaction time after it started, and only after the engine had time to
    /// act on the previous key. Keys of one entry (a merchant id) follow each other.
    Key(Digit),
    /// Press a key now, whatever the engine is doing (script `!5`).
    KeyNow(Digit),
    /// Wait until something was heard since the last `After`: a prompt that played to its
    /// end (by label), a prompt that started (`playing:<label>`), `queued`, `transfer` or
    /// `cleared` (script `after:welcome_95017`, `after:playing:menu_95017_main`).
    After(String),
    /// Stay silent this long.
    Wait(Duration),
    /// Wait until the audio buffered so far has played (the current prompt ended).
    UntilQuiet,
    /// Hang up.
    Hangup,
    /// Send this raw TEXT message (for malformed-input tests).
    SendText(String),
    /// Send this raw BINARY message.
    SendBinary(Vec<u8>),
}

/// Parses a key script: `"1 wait:2s 0"`, `"12#"` (three keys), `!5` (press now, even during
/// a prompt that ignores keys), `after:welcome_95017` / `after:queued` (until heard), `quiet`
/// (until the current prompt has played), `hangup`.
pub fn parse_keys(script: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    for word in script.split_whitespace() {
        if let Some(what) = word.strip_prefix("after:") {
            if what.is_empty() {
                return Err("after: needs a prompt id, queued, transfer or cleared".into());
            }
            steps.push(Step::After(what.to_owned()));
        } else if let Some(keys) = word.strip_prefix('!') {
            for c in keys.chars() {
                let digit =
                    Digit::new(c).ok_or_else(|| format!("{c:?} in {word:?} is not a key"))?;
                steps.push(Step::KeyNow(digit));
            }
        } else if let Some(d) = word.strip_prefix("wait:") {
            steps.push(Step::Wait(crate::gateway::config::parse_duration(d)?));
        } else if word == "hangup" {
            steps.push(Step::Hangup);
        } else if word == "quiet" {
            steps.push(Step::UntilQuiet);
        } else {
            for c in word.chars() {
                let digit = Digit::new(c).ok_or_else(|| {
                    format!(
                        "{c:?} in {word:?} is not a key (0-9 * # A-D, !5, wait:2s, after:ID, \
                         quiet, hangup)"
                    )
                })?;
                steps.push(Step::Key(digit));
            }
        }
    }
    Ok(steps)
}

/// What to dial and how.
#[derive(Clone, Debug)]
pub struct DialOptions {
    /// The engine's media base URL, e.g. `ws://127.0.0.1:8080`.
    pub url: String,
    /// Which gateway to impersonate.
    pub dialect: DialectKind,
    /// The number dialled.
    pub number: String,
    /// The caller's number.
    pub caller: String,
    /// The caller's script.
    pub steps: Vec<Step>,
    /// How keys are sent.
    pub dtmf: DtmfMode,
    /// A-law instead of μ-law (Asterisk only; Twilio is always μ-law).
    pub alaw: bool,
    /// The call id (Twilio `callSid`, Asterisk channel id).
    pub call_id: String,
    /// Extra upgrade headers (e.g. `X-Twilio-Signature`).
    pub headers: Vec<(String, String)>,
    /// Send the `start`/`MEDIA_START` message (off: test the start timeout).
    pub send_start: bool,
    /// Give up after this long.
    pub max_duration: Duration,
    /// Hang up this long after the script ended and the last prompt was heard (music on hold
    /// does not count), if the engine has not ended the call.
    pub linger: Duration,
    /// The URL path to dial instead of the dialect's (`/twilio/95017`, `/k/<token>/twilio`).
    pub path: Option<String>,
    /// Send inbound media in swapped pairs (frame 2 before frame 1, ...), with correct
    /// timestamps, as a gateway whose frames overtake each other would.
    pub swap_frames: bool,
}

impl DialOptions {
    /// Defaults for dialling `number` at `url` as Twilio.
    pub fn new(url: impl Into<String>, number: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            dialect: DialectKind::Twilio,
            number: number.into(),
            caller: "+8613800000000".into(),
            steps: Vec::new(),
            dtmf: DtmfMode::InBand,
            alaw: false,
            call_id: format!("CA{:032x}", rand_id()),
            headers: Vec::new(),
            send_start: true,
            max_duration: Duration::from_secs(120),
            linger: Duration::from_secs(30),
            path: None,
            swap_frames: false,
        }
    }
}

fn rand_id() -> u128 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    // Mix in an address so ids made in the same nanosecond differ.
    let local = 0u8;
    t ^ ((&raw const local as usize as u128) << 64)
}

/// Something the caller noticed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Heard {
    /// A prompt played to its end (its mark reached the front of the buffer).
    Prompt {
        /// The prompt ids the engine named in the mark (`welcome_95017`, `a+b`).
        label: String,
        /// How long its audio lasted.
        duration: Duration,
    },
    /// The engine cleared the buffer (barge-in), discarding this much unplayed audio.
    Cleared {
        /// Audio thrown away.
        discarded: Duration,
    },
    /// The caller pressed a key.
    Pressed(Digit),
    /// The engine placed the call in a queue.
    Queued {
        /// The queue.
        queue: String,
        /// The priority class.
        class: String,
    },
    /// The queue turned the call away (`no_agents`, `full`).
    Refused {
        /// Why.
        reason: String,
    },
    /// The engine handed the call on.
    Transfer {
        /// The target.
        target: String,
    },
    /// The engine started a prompt (its audio follows in the same breath).
    Playing {
        /// The prompt ids.
        label: String,
        /// Whether a key may cut it short.
        barge_in: bool,
    },
}

/// How the call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Left {
    /// The engine closed the stream (hang-up, transfer, or an error with its close reason).
    EngineClosed {
        /// WebSocket close code.
        code: u16,
        /// Close reason.
        reason: String,
    },
    /// Asterisk only: the engine sent `HANGUP`.
    EngineHungUp,
    /// The caller hung up.
    CallerHungUp,
    /// The upgrade was refused with this HTTP status.
    Refused(u16),
    /// Nothing ended the call within the time allowed.
    TimedOut,
}

/// What the caller experienced.
#[derive(Clone, Debug)]
pub struct Transcript {
    /// Events with their time from the start of the call.
    pub events: Vec<(Duration, Heard)>,
    /// How the call ended, and when.
    pub left: (Duration, Left),
    /// The audio the caller heard, 8 kHz.
    pub audio: Vec<i16>,
}

impl Transcript {
    /// The prompt labels heard to their end, in order.
    pub fn prompts(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|(_, h)| match h {
                Heard::Prompt { label, .. } => Some(label.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The queue and class the call joined, if any.
    pub fn queued(&self) -> Option<(&str, &str)> {
        self.events.iter().find_map(|(_, h)| match h {
            Heard::Queued { queue, class } => Some((queue.as_str(), class.as_str())),
            _ => None,
        })
    }

    /// Why a queue turned the call away, if one did.
    pub fn refused(&self) -> Option<&str> {
        self.events.iter().find_map(|(_, h)| match h {
            Heard::Refused { reason } => Some(reason.as_str()),
            _ => None,
        })
    }

    /// Transfer target, if the call was handed on.
    pub fn transfer(&self) -> Option<&str> {
        self.events.iter().find_map(|(_, h)| match h {
            Heard::Transfer { target } => Some(target.as_str()),
            _ => None,
        })
    }

    /// The prompts the engine started, in order (heard to the end or not).
    pub fn started(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|(_, h)| match h {
                Heard::Playing { label, .. } => Some(label.as_str()),
                _ => None,
            })
            .collect()
    }

    /// When the first event matching `pred` happened.
    pub fn first_at(&self, pred: impl Fn(&Heard) -> bool) -> Option<Duration> {
        self.events.iter().find(|(_, h)| pred(h)).map(|(t, _)| *t)
    }

    /// Whether any barge-in clear happened.
    pub fn was_cleared(&self) -> bool {
        self.events
            .iter()
            .any(|(_, h)| matches!(h, Heard::Cleared { .. }))
    }
}

impl fmt::Display for Transcript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (at, h) in &self.events {
            let t = at.as_secs_f64();
            match h {
                Heard::Prompt { label, duration } => writeln!(
                    f,
                    "{t:7.2}s  heard    {label} ({:.2}s)",
                    duration.as_secs_f64()
                )?,
                Heard::Cleared { discarded } => writeln!(
                    f,
                    "{t:7.2}s  cleared  ({:.2}s of prompt discarded)",
                    discarded.as_secs_f64()
                )?,
                Heard::Pressed(d) => writeln!(f, "{t:7.2}s  pressed  {d}")?,
                Heard::Queued { queue, class } => {
                    writeln!(f, "{t:7.2}s  queued   {queue} (priority {class})")?;
                }
                Heard::Refused { reason } => writeln!(f, "{t:7.2}s  refused  {reason}")?,
                Heard::Transfer { target } => writeln!(f, "{t:7.2}s  transfer {target}")?,
                Heard::Playing { label, barge_in } => {
                    let keys = if *barge_in {
                        "keys cut it short"
                    } else {
                        "no keys"
                    };
                    writeln!(f, "{t:7.2}s  playing  {label} ({keys})")?;
                }
            }
        }
        let (at, left) = &self.left;
        let t = at.as_secs_f64();
        match left {
            Left::EngineClosed { code, reason } if reason.is_empty() => {
                writeln!(f, "{t:7.2}s  left     engine closed the stream ({code})")
            }
            Left::EngineClosed { code, reason } => {
                writeln!(
                    f,
                    "{t:7.2}s  left     engine closed the stream ({code}: {reason})"
                )
            }
            Left::EngineHungUp => writeln!(f, "{t:7.2}s  left     engine hung up"),
            Left::CallerHungUp => writeln!(f, "{t:7.2}s  left     caller hung up"),
            Left::Refused(s) => writeln!(f, "{t:7.2}s  left     refused with HTTP {s}"),
            Left::TimedOut => writeln!(f, "{t:7.2}s  left     still connected at the time limit"),
        }
    }
}

/// Why the simulator could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The URL is not usable.
    #[error("bad URL {0:?}")]
    BadUrl(String),
    /// The connection failed before any HTTP answer.
    #[error("cannot connect: {0}")]
    Connect(String),
}

enum Item {
    Audio(Box<[i16; FRAME]>),
    Mark(String),
}

struct Caller {
    opts: DialOptions,
    law: Law,
    t0: Instant,
    events: Vec<(Duration, Heard)>,
    buffer: VecDeque<Item>,
    partial: Vec<i16>,
    heard: Vec<i16>,
    segment_frames: u32,
    outgoing: VecDeque<i16>,
    frames_sent: u64,
    /// The last prompt the engine started takes keys.
    listening: bool,
    /// When the engine last started a prompt.
    announced_at: Option<Instant>,
    /// When the last key was pressed.
    pressed_at: Option<Instant>,
    /// Events before this index were already matched by an `After` step.
    matched_upto: usize,
    /// A frame held back to be sent after its successor (`swap_frames`).
    held: Option<Message>,
}

/// Time a caller takes to react to a prompt that just started.
const REACTION: Duration = Duration::from_millis(300);
/// Time left to the engine to start a new prompt after a key before the next key is pressed
/// into the same one.
const SETTLE: Duration = Duration::from_millis(500);

impl Caller {
    /// Whether a key may be pressed now (see [`Step::Key`]).
    fn ready_for_key(&self, now: Instant) -> bool {
        let Some(announced) = self.announced_at else {
            return false;
        };
        // After a key, wait for the engine to start its next prompt, or, when none comes (the
        // middle of a digit entry), for SETTLE.
        let settled = self
            .pressed_at
            .is_none_or(|p| announced > p || now >= p + SETTLE);
        settled && now >= announced + REACTION && self.listening
    }

    /// Whether something matching `what` was heard since the last match; consumes it.
    fn take_heard(&mut self, what: &str) -> bool {
        let found = self.events[self.matched_upto..]
            .iter()
            .position(|(_, h)| match h {
                Heard::Prompt { label, .. } => label == what,
                Heard::Playing { label, .. } => what.strip_prefix("playing:") == Some(label),
                Heard::Queued { .. } => what == "queued",
                Heard::Transfer { .. } => what == "transfer",
                Heard::Cleared { .. } => what == "cleared",
                _ => false,
            });
        match found {
            Some(i) => {
                self.matched_upto += i + 1;
                true
            }
            None => false,
        }
    }

    fn at(&self) -> Duration {
        self.t0.elapsed()
    }

    fn note(&mut self, h: Heard) {
        let at = self.at();
        self.events.push((at, h));
    }

    fn buffered_frames(&self) -> usize {
        self.buffer
            .iter()
            .filter(|i| matches!(i, Item::Audio(_)))
            .count()
    }

    fn take_audio(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.partial.push(self.law.decode(b));
            if self.partial.len() == FRAME {
                let mut f = Box::new([0i16; FRAME]);
                f.copy_from_slice(&self.partial);
                self.partial.clear();
                self.buffer.push_back(Item::Audio(f));
            }
        }
    }

    fn event_mark(&mut self, name: &str) {
        let Some(rest) = name.strip_prefix(crate::gateway::session::EVENT_MARK_PREFIX) else {
            return;
        };
        if let Some(q) = rest.strip_prefix("enqueue:") {
            let (queue, class) = q.split_once(':').unwrap_or((q, ""));
            self.note(Heard::Queued {
                queue: queue.into(),
                class: class.into(),
            });
        } else if let Some(r) = rest.strip_prefix("refused:") {
            self.note(Heard::Refused { reason: r.into() });
        } else if let Some(t) = rest.strip_prefix("transfer:") {
            self.note(Heard::Transfer { target: t.into() });
        } else if let Some(p) = rest.strip_prefix("play:") {
            let (label, keys) = p.rsplit_once(':').unwrap_or((p, ""));
            let barge_in = keys == "barge";
            self.listening = barge_in;
            self.announced_at = Some(Instant::now());
            self.note(Heard::Playing {
                label: label.into(),
                barge_in,
            });
        }
    }

    /// A mark reached the front of the buffer: the audio before it has played.
    fn mark_played(&mut self, name: &str) {
        if name.starts_with(crate::gateway::session::EVENT_MARK_PREFIX) {
            return;
        }
        let label = name.split_once(':').map_or(name, |(_, l)| l).to_owned();
        let duration = Duration::from_millis(u64::from(self.segment_frames) * 20);
        self.segment_frames = 0;
        self.note(Heard::Prompt { label, duration });
    }

    fn clear(&mut self) -> Vec<String> {
        let discarded = self.buffered_frames();
        let marks: Vec<String> = self
            .buffer
            .drain(..)
            .filter_map(|i| match i {
                Item::Mark(m) => Some(m),
                Item::Audio(_) => None,
            })
            .collect();
        self.partial.clear();
        self.segment_frames = 0;
        self.note(Heard::Cleared {
            discarded: Duration::from_millis(discarded as u64 * 20),
        });
        marks
    }

    /// Plays one frame; returns marks now due for echo.
    fn play_tick(&mut self) -> Vec<String> {
        let mut due = Vec::new();
        let mut played = false;
        while let Some(front) = self.buffer.front() {
            match front {
                Item::Mark(_) => {
                    if let Some(Item::Mark(m)) = self.buffer.pop_front() {
                        self.mark_played(&m);
                        due.push(m);
                    }
                }
                Item::Audio(_) if !played => {
                    if let Some(Item::Audio(f)) = self.buffer.pop_front() {
                        self.heard.extend_from_slice(&f[..]);
                        self.segment_frames += 1;
                        played = true;
                    }
                }
                Item::Audio(_) => break,
            }
        }
        if !played {
            self.heard.extend_from_slice(&[0; FRAME]);
        }
        due
    }

    fn press(&mut self, digit: Digit) {
        if self.opts.dtmf != DtmfMode::Event {
            let spec = ToneSpec {
                tone: millis(80),
                gap: millis(80),
                ..ToneSpec::default()
            };
            let mut samples = Vec::new();
            push_digits(&[digit], &spec, &mut samples);
            self.outgoing.extend(samples);
        } else {
            self.outgoing.extend(std::iter::repeat_n(0, 1280));
        }
        self.pressed_at = Some(Instant::now());
        self.note(Heard::Pressed(digit));
    }

    fn next_frame(&mut self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FRAME);
        for _ in 0..FRAME {
            let s = self.outgoing.pop_front().unwrap_or(0);
            out.push(self.law.encode(s));
        }
        self.frames_sent += 1;
        out
    }

    // Wire formats.

    fn start_message(&self) -> Message {
        match self.opts.dialect {
            DialectKind::Twilio => Message::text(
                json!({
                    "event": "start",
                    "sequenceNumber": "1",
                    "streamSid": format!("MZ{}", &self.opts.call_id.trim_start_matches("CA")),
                    "start": {
                        "accountSid": "AC00000000000000000000000000000000",
                        "streamSid": format!("MZ{}", &self.opts.call_id.trim_start_matches("CA")),
                        "callSid": self.opts.call_id,
                        "tracks": ["inbound"],
                        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                        "customParameters": {"To": self.opts.number, "From": self.opts.caller},
                    }
                })
                .to_string(),
            ),
            DialectKind::Asterisk => Message::text(
                json!({
                    "event": "MEDIA_START",
                    "connection_id": format!("conn-{}", self.opts.call_id),
                    "channel": format!("WebSocket/ivr-{}", self.opts.call_id),
                    "channel_id": self.opts.call_id,
                    "format": if self.opts.alaw { "alaw" } else { "ulaw" },
                    "optimal_frame_size": 160,
                    "ptime": 20,
                    "channel_variables": {"IVR_TO": self.opts.number, "IVR_FROM": self.opts.caller},
                })
                .to_string(),
            ),
        }
    }

    fn media_message(&mut self) -> Message {
        let frame = self.next_frame();
        match self.opts.dialect {
            DialectKind::Twilio => Message::text(
                json!({
                    "event": "media",
                    "sequenceNumber": (self.frames_sent + 1).to_string(),
                    "streamSid": "MZsim",
                    "media": {
                        "track": "inbound",
                        "chunk": self.frames_sent.to_string(),
                        // Real streams start at a small offset, then +20 ms a frame.
                        "timestamp": (100 + self.frames_sent * 20).to_string(),
                        "payload": BASE64.encode(&frame),
                    }
                })
                .to_string(),
            ),
            DialectKind::Asterisk => Message::binary(frame),
        }
    }

    fn dtmf_message(&self, digit: Digit) -> Message {
        match self.opts.dialect {
            DialectKind::Twilio => Message::text(
                json!({"event": "dtmf", "streamSid": "MZsim", "sequenceNumber": "0",
                       "dtmf": {"track": "inbound_track", "digit": digit.to_string()}})
                .to_string(),
            ),
            DialectKind::Asterisk => {
                Message::text(json!({"event": "DTMF_END", "digit": digit.to_string()}).to_string())
            }
        }
    }

    fn echo_message(&self, name: &str) -> Message {
        match self.opts.dialect {
            DialectKind::Twilio => Message::text(
                json!({"event": "mark", "streamSid": "MZsim", "sequenceNumber": "0",
                       "mark": {"name": name}})
                .to_string(),
            ),
            DialectKind::Asterisk => Message::text(
                json!({"event": "MEDIA_MARK_PROCESSED", "correlation_id": name}).to_string(),
            ),
        }
    }
}

/// What the engine told us in one message.
enum FromEngine {
    Audio(Vec<u8>),
    Mark(String),
    Clear,
    HangUp,
    Nothing,
}

fn read_engine(dialect: DialectKind, msg: &Message) -> FromEngine {
    match (dialect, msg) {
        (DialectKind::Asterisk, Message::Binary(b)) => FromEngine::Audio(b.to_vec()),
        (_, Message::Text(t)) => {
            let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else {
                return FromEngine::Nothing;
            };
            let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("");
            match dialect {
                DialectKind::Twilio => match field("event") {
                    "media" => v["media"]["payload"]
                        .as_str()
                        .and_then(|p| BASE64.decode(p).ok())
                        .map_or(FromEngine::Nothing, FromEngine::Audio),
                    "mark" => v["mark"]["name"]
                        .as_str()
                        .map_or(FromEngine::Nothing, |n| FromEngine::Mark(n.to_owned())),
                    "clear" => FromEngine::Clear,
                    "hangup" => FromEngine::HangUp,
                    _ => FromEngine::Nothing,
                },
                DialectKind::Asterisk => match field("command") {
                    "MARK_MEDIA" => FromEngine::Mark(field("correlation_id").to_owned()),
                    "FLUSH_MEDIA" => FromEngine::Clear,
                    "HANGUP" => FromEngine::HangUp,
                    _ => FromEngine::Nothing,
                },
            }
        }
        _ => FromEngine::Nothing,
    }
}

/// Dials the engine and plays the caller's script in real time.
pub async fn dial(opts: DialOptions) -> Result<Transcript, SimError> {
    let path = opts.path.clone().unwrap_or_else(|| match opts.dialect {
        DialectKind::Twilio => "/twilio".to_owned(),
        DialectKind::Asterisk => "/asterisk".to_owned(),
    });
    let url = format!("{}{}", opts.url.trim_end_matches('/'), path);
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|_| SimError::BadUrl(url.clone()))?;
    for (k, v) in &opts.headers {
        if let (Ok(name), Ok(value)) = (
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            request.headers_mut().insert(name, value);
        }
    }
    let t0 = Instant::now();
    let ws = match tokio_tungstenite::connect_async_with_config(request, None, true).await {
        Ok((ws, _)) => ws,
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            return Ok(Transcript {
                events: Vec::new(),
                left: (t0.elapsed(), Left::Refused(resp.status().as_u16())),
                audio: Vec::new(),
            });
        }
        Err(e) => return Err(SimError::Connect(e.to_string())),
    };
    let law = if opts.alaw && opts.dialect == DialectKind::Asterisk {
        Law::Alaw
    } else {
        Law::Mulaw
    };
    let mut c = Caller {
        opts,
        law,
        t0,
        events: Vec::new(),
        buffer: VecDeque::new(),
        partial: Vec::new(),
        heard: Vec::new(),
        segment_frames: 0,
        outgoing: VecDeque::new(),
        frames_sent: 0,
        listening: false,
        announced_at: None,
        pressed_at: None,
        matched_upto: 0,
        held: None,
    };
    let left = run_caller(&mut c, ws).await;
    Ok(Transcript {
        events: c.events,
        left: (t0.elapsed(), left),
        audio: c.heard,
    })
}

async fn run_caller<S>(c: &mut Caller, mut ws: tokio_tungstenite::WebSocketStream<S>) -> Left
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    if c.opts.dialect == DialectKind::Twilio {
        let connected = json!({"event": "connected", "protocol": "Call", "version": "1.0.0"});
        if ws.send(Message::text(connected.to_string())).await.is_err() {
            return Left::EngineClosed {
                code: 1006,
                reason: String::new(),
            };
        }
    }
    if c.opts.send_start && ws.send(c.start_message()).await.is_err() {
        return Left::EngineClosed {
            code: 1006,
            reason: String::new(),
        };
    }
    let mut steps: VecDeque<Step> = c.opts.steps.clone().into();
    let mut wait_until: Option<Instant> = None;
    let mut script_done_at: Option<Instant> = None;
    let deadline = c.t0 + c.opts.max_duration;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let now = Instant::now();
                if now >= deadline {
                    let _ = ws.close(None).await;
                    return Left::TimedOut;
                }
                // Script: at most one key per tick; a key's tone must finish before the next.
                if wait_until.is_none_or(|t| now >= t) && c.outgoing.is_empty() {
                    wait_until = None;
                    match steps.pop_front() {
                        Some(Step::Key(d)) if !c.ready_for_key(now) => {
                            steps.push_front(Step::Key(d));
                        }
                        Some(Step::After(what)) => {
                            if !c.take_heard(&what) {
                                steps.push_front(Step::After(what));
                            }
                        }
                        Some(Step::Key(d) | Step::KeyNow(d)) => {
                            c.press(d);
                            if c.opts.dtmf != DtmfMode::InBand
                                && ws.send(c.dtmf_message(d)).await.is_err()
                            {
                                return closed_left(&mut ws).await;
                            }
                        }
                        Some(Step::Wait(d)) => wait_until = Some(now + d),
                        Some(Step::UntilQuiet) => {
                            if c.buffered_frames() > 0 {
                                steps.push_front(Step::UntilQuiet);
                            }
                        }
                        Some(Step::Hangup) => {
                            if c.opts.dialect == DialectKind::Twilio {
                                let stop = json!({"event": "stop", "streamSid": "MZsim",
                                    "sequenceNumber": "0",
                                    "stop": {"accountSid": "AC0", "callSid": c.opts.call_id}});
                                let _ = ws.send(Message::text(stop.to_string())).await;
                            }
                            let _ = ws.close(None).await;
                            return Left::CallerHungUp;
                        }
                        Some(Step::SendText(t)) => {
                            if ws.send(Message::text(t)).await.is_err() {
                                return closed_left(&mut ws).await;
                            }
                        }
                        Some(Step::SendBinary(b)) => {
                            if ws.send(Message::binary(b)).await.is_err() {
                                return closed_left(&mut ws).await;
                            }
                        }
                        None => {
                            let done = *script_done_at.get_or_insert(now);
                            // Linger counts from the end of the script or the last prompt
                            // event, whichever is later: a caller listens to the end.
                            let last_heard = c
                                .events
                                .iter()
                                .rev()
                                .find(|(_, h)| {
                                    matches!(h, Heard::Prompt { .. } | Heard::Playing { .. })
                                })
                                .map(|(at, _)| c.t0 + *at);
                            let done = last_heard.map_or(done, |h| h.max(done));
                            // Still hearing a prompt (music on hold aside): keep listening.
                            let hearing = c.buffered_frames() > 0
                                && !c.events.iter().any(|(_, h)| matches!(h, Heard::Queued { .. }));
                            if hearing {
                                script_done_at = Some(now);
                            } else if now >= done + c.opts.linger {
                                let _ = ws.close(None).await;
                                return Left::CallerHungUp;
                            }
                        }
                    }
                }
                let frame = c.media_message();
                let out = if !c.opts.swap_frames {
                    Some(frame)
                } else if let Some(first) = c.held.take() {
                    // The later frame overtakes the earlier one.
                    if ws.send(frame).await.is_err() {
                        return closed_left(&mut ws).await;
                    }
                    Some(first)
                } else {
                    c.held = Some(frame);
                    None
                };
                if let Some(out) = out
                    && ws.send(out).await.is_err()
                {
                    return closed_left(&mut ws).await;
                }
                for m in c.play_tick() {
                    if ws.send(c.echo_message(&m)).await.is_err() {
                        return closed_left(&mut ws).await;
                    }
                }
            }
            msg = ws.next() => {
                let msg = match msg {
                    Some(Ok(m)) => m,
                    Some(Err(_)) | None => return Left::EngineClosed { code: 1006, reason: String::new() },
                };
                if let Message::Close(frame) = &msg {
                    return match frame {
                        Some(f) => Left::EngineClosed { code: f.code.into(), reason: f.reason.to_string() },
                        None => Left::EngineClosed { code: 1005, reason: String::new() },
                    };
                }
                match read_engine(c.opts.dialect, &msg) {
                    FromEngine::Audio(bytes) => c.take_audio(&bytes),
                    FromEngine::Mark(name) => {
                        c.event_mark(&name);
                        if c.buffer.is_empty() {
                            c.mark_played(&name);
                            if ws.send(c.echo_message(&name)).await.is_err() {
                                return closed_left(&mut ws).await;
                            }
                        } else {
                            c.buffer.push_back(Item::Mark(name));
                        }
                    }
                    FromEngine::Clear => {
                        for m in c.clear() {
                            if ws.send(c.echo_message(&m)).await.is_err() {
                                return closed_left(&mut ws).await;
                            }
                        }
                    }
                    FromEngine::HangUp => {
                        let _ = ws.close(None).await;
                        return Left::EngineHungUp;
                    }
                    FromEngine::Nothing => {}
                }
            }
        }
    }
}

async fn closed_left<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> Left
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    // Read what is left to learn the close code, briefly.
    let wait = tokio::time::timeout(Duration::from_millis(300), async {
        while let Some(Ok(m)) = ws.next().await {
            if let Message::Close(Some(f)) = m {
                return Left::EngineClosed {
                    code: f.code.into(),
                    reason: f.reason.to_string(),
                };
            }
        }
        Left::EngineClosed {
            code: 1006,
            reason: String::new(),
        }
    });
    wait.await.unwrap_or(Left::EngineClosed {
        code: 1006,
        reason: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_scripts_parse_keys_waits_and_hangups() {
        let d = |c| Digit::new(c).unwrap();
        assert_eq!(
            parse_keys("1 wait:2s 0").unwrap(),
            vec![
                Step::Key(d('1')),
                Step::Wait(Duration::from_secs(2)),
                Step::Key(d('0'))
            ]
        );
        assert_eq!(
            parse_keys("12# quiet hangup").unwrap(),
            vec![
                Step::Key(d('1')),
                Step::Key(d('2')),
                Step::Key(d('#')),
                Step::UntilQuiet,
                Step::Hangup
            ]
        );
        assert!(parse_keys("1 x").is_err());
        assert!(parse_keys("wait:soon").is_err());
    }
}
