//! Gateway dialects: the wire formats SIP gateways speak over a media WebSocket, each mapped to
//! one small internal model so the session task never sees a vendor's field names.
//!
//! Adding a gateway is one file: implement [`Dialect`] (decode one WebSocket message into one
//! [`Inbound`] fact, encode one [`Outbound`] command into at most one message) and add a
//! [`DialectKind`] variant. Decoders are pure functions of their input and a little per-stream
//! state; they never touch sockets, clocks or metrics, and never panic on what a gateway sends:
//! malformed input becomes a [`DialectError`] sorted by whose fault it is.
//!
//! The model follows the media-protocols brief §6.2. In: `Started`, `Audio`, `Dtmf`,
//! `MarkEchoed`, `Stopped`, flow control. Out: `Play`, `Mark`, `Clear`, `Hangup`, `Transfer`.

pub mod asterisk;
pub mod twilio;

use std::collections::BTreeMap;
use std::fmt;

use crate::ids::{CallId, Digit};

/// How the audio bytes of a stream are coded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// G.711 μ-law, one byte per sample.
    Mulaw,
    /// G.711 A-law, one byte per sample (Chinese and European PSTN trunks).
    Alaw,
    /// Linear 16-bit signed PCM.
    L16 {
        /// Network byte order (Telnyx, RFC 2586) rather than little-endian (everyone else).
        big_endian: bool,
    },
}

impl Codec {
    /// Bytes one sample takes on the wire.
    pub fn bytes_per_sample(self) -> usize {
        match self {
            Codec::Mulaw | Codec::Alaw => 1,
            Codec::L16 { .. } => 2,
        }
    }

    /// A short stable name for logs and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Mulaw => "ulaw",
            Codec::Alaw => "alaw",
            Codec::L16 { .. } => "l16",
        }
    }
}

/// What a gateway tells us when a stream starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Started {
    /// The call as the gateway names it (Twilio `callSid`, Asterisk channel id).
    pub call_id: CallId,
    /// The stream (Twilio `streamSid`, Asterisk connection id); echoed on outbound messages.
    pub stream_id: String,
    /// Audio coding of both directions.
    pub codec: Codec,
    /// Samples per second.
    pub rate: u32,
    /// Per-call parameters (`To`, `From`, Twilio `<Parameter>`s, Asterisk channel variables).
    pub params: BTreeMap<String, String>,
}

/// Why a gateway says the stream ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The gateway stopped the stream (Twilio `stop`): the call ended or moved on.
    StreamStopped,
    /// The gateway reported an error event (Telnyx `error`).
    GatewayError(String),
}

/// One fact a gateway sent, in the engine's words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inbound {
    /// The socket is up; nothing about the call yet (Twilio `connected`).
    Connected,
    /// The stream started.
    Started(Started),
    /// Caller audio in the stream's codec.
    Audio {
        /// Presentation time in ms from stream start, when the gateway gives one.
        ts_ms: Option<u64>,
        /// The coded bytes.
        payload: Vec<u8>,
    },
    /// The gateway detected a key press (RFC 4733 / SIP INFO).
    Dtmf {
        /// The key.
        digit: Digit,
    },
    /// A mark we sent came back: audio queued before it is done (played *or* cleared).
    MarkEchoed {
        /// The name we gave it.
        name: String,
    },
    /// The stream ended.
    Stopped(StopReason),
    /// Stop sending audio for a while (Asterisk `MEDIA_XOFF`).
    Paused,
    /// Sending audio is fine again (Asterisk `MEDIA_XON`).
    Resumed,
    /// A well-formed message the engine has no use for (outbound-track media, `STATUS`,
    /// unknown event names). Counted, not fatal.
    Ignored {
        /// A bounded label saying what it was.
        what: &'static str,
    },
}

/// One command to a gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outbound<'a> {
    /// Audio for the caller, already coded in the stream's codec.
    Play(&'a [u8]),
    /// Ask to be told when the audio sent so far has played.
    Mark(&'a str),
    /// Discard every queued byte of audio now (barge-in).
    Clear,
    /// End the call.
    Hangup,
    /// Hand the call to a number or SIP address (only gateways that support it in-band).
    Transfer {
        /// `tel:+86...`, `sip:agent@host` or `queue:<id>`.
        target: &'a str,
    },
}

/// One WebSocket message as received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireIn<'a> {
    /// A TEXT frame.
    Text(&'a str),
    /// A BINARY frame.
    Binary(&'a [u8]),
}

/// One WebSocket message to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WireOut {
    /// A TEXT frame.
    Text(String),
    /// A BINARY frame.
    Binary(Vec<u8>),
}

/// Features a gateway may or may not have in-band.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capability {
    /// Echoes marks when audio before them has played.
    Marks,
    /// Discards buffered audio on command.
    Clear,
    /// Hangs up on an in-band command (else: close the socket).
    Hangup,
    /// Transfers on an in-band command (else: out-of-band, e.g. TwiML `<Connect action>`).
    Transfer,
}

/// The gateway families the engine speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DialectKind {
    /// Twilio Media Streams (and the Telnyx/SignalWire/Exotel clones).
    Twilio,
    /// Asterisk `chan_websocket`.
    Asterisk,
}

impl DialectKind {
    /// A short stable name for logs and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            DialectKind::Twilio => "twilio",
            DialectKind::Asterisk => "asterisk",
        }
    }

    /// A fresh decoder/encoder for one stream.
    pub fn new_dialect(self) -> Box<dyn Dialect> {
        match self {
            DialectKind::Twilio => Box::new(twilio::Twilio::new()),
            DialectKind::Asterisk => Box::new(asterisk::Asterisk::new()),
        }
    }
}

impl fmt::Display for DialectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for DialectKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "twilio" => Ok(DialectKind::Twilio),
            "asterisk" => Ok(DialectKind::Asterisk),
            other => Err(format!("unknown dialect {other:?} (twilio, asterisk)")),
        }
    }
}

/// One gateway wire format, with the per-stream state it needs (stream id, control format).
pub trait Dialect: Send {
    /// Which family this is.
    fn kind(&self) -> DialectKind;

    /// Reads one WebSocket message. Never panics; malformed input is an error.
    fn decode(&mut self, msg: WireIn<'_>) -> Result<Inbound, DialectError>;

    /// Writes one command, or `None` when this gateway has no in-band form for it (the
    /// session then closes the socket or uses an out-of-band path).
    fn encode(&mut self, out: Outbound<'_>) -> Option<WireOut>;

    /// Whether the gateway can do `cap` in-band on this stream.
    fn supports(&self, cap: Capability) -> bool;
}

/// Whose fault a dialect error is, which decides the one reaction to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The gateway sent something broken: count it, log once, end that call.
    Malformed,
    /// Well-formed but asks for something the engine does not do: refuse the session.
    Unsupported,
}

/// A message the dialect could not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialectError {
    /// Not JSON, or JSON of the wrong shape.
    #[error("malformed JSON: {0}")]
    BadJson(String),
    /// A media payload that is not base64.
    #[error("media payload is not valid base64")]
    BadBase64,
    /// A required field is absent.
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    /// A field holds a value outside its domain.
    #[error("bad value for `{field}`: {value:?}")]
    BadValue {
        /// The field.
        field: &'static str,
        /// What came (truncated to 32 characters).
        value: String,
    },
    /// A BINARY frame where the dialect only speaks TEXT.
    #[error("unexpected binary frame")]
    UnexpectedBinary,
    /// Audio whose length is not a whole number of samples (an odd byte count of 16-bit PCM).
    #[error("audio of {len} bytes splits a {sample_bytes}-byte sample")]
    OddLength {
        /// Bytes received.
        len: usize,
        /// Bytes per sample of the stream's codec.
        sample_bytes: usize,
    },
    /// A control message this dialect does not know (Asterisk plain text).
    #[error("unknown control message {0:?}")]
    UnknownControl(String),
    /// A codec or rate the engine cannot process.
    #[error("unsupported media format {encoding:?} at {rate} Hz")]
    UnsupportedFormat {
        /// The encoding as the gateway named it.
        encoding: String,
        /// The sample rate.
        rate: u32,
    },
}

impl DialectError {
    /// Whose fault it is.
    pub fn fault(&self) -> Fault {
        match self {
            DialectError::UnsupportedFormat { .. } => Fault::Unsupported,
            _ => Fault::Malformed,
        }
    }

    /// A bounded label for metrics (`ivr_ws_protocol_errors_total{reason}`).
    pub fn reason(&self) -> &'static str {
        match self {
            DialectError::BadJson(_) => "bad_json",
            DialectError::BadBase64 => "bad_base64",
            DialectError::MissingField(_) => "missing_field",
            DialectError::BadValue { .. } => "bad_value",
            DialectError::UnexpectedBinary => "unexpected_binary",
            DialectError::OddLength { .. } => "odd_length",
            DialectError::UnknownControl(_) => "unknown_control",
            DialectError::UnsupportedFormat { .. } => "unsupported_format",
        }
    }

    pub(crate) fn bad_value(field: &'static str, value: &str) -> Self {
        DialectError::BadValue {
            field,
            value: value.chars().take(32).collect(),
        }
    }
}

/// Parses a gateway's digit string (exactly one key).
pub(crate) fn parse_digit(field: &'static str, s: &str) -> Result<Digit, DialectError> {
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Digit::new(c).ok_or_else(|| DialectError::bad_value(field, s)),
        _ => Err(DialectError::bad_value(field, s)),
    }
}

/// Checks a rate/codec pair is one the engine runs (8 kHz audio; G.711 or L16).
pub(crate) fn check_format(codec: Codec, rate: u32, encoding: &str) -> Result<(), DialectError> {
    let _ = codec;
    if rate == 8000 {
        Ok(())
    } else {
        Err(DialectError::UnsupportedFormat {
            encoding: encoding.chars().take(32).collect(),
            rate,
        })
    }
}
