//! Twilio Media Streams, bidirectional (`<Connect><Stream>`), exactly as documented: JSON TEXT
//! frames with an `event` discriminator; `connected`/`start`/`media`/`dtmf`/`mark`/`stop` in,
//! `media`/`mark`/`clear` out. Number-like fields arrive as JSON strings (numbers accepted too);
//! `dtmf.track` is `inbound_track`. The clones' small renames are accepted where cheap: Telnyx
//! and Exotel snake_case (`stream_id`/`stream_sid`, `sequence_number`, `media_format`,
//! `sample_rate`, `custom_parameters`, `call_control_id`, `from`/`to`, codec names such as
//! `PCMA`), Telnyx's `error` event, and Vonage-style `digit` at the top level.
//!
//! Opt-in in-band extensions (media-protocols brief §6.3): when `start.customParameters` holds
//! `x-ext` listing `hangup` and/or `transfer`, the matching outbound events are sent; real
//! Twilio never advertises them, so it never receives them.
//!
//! Outbound `media`, `mark` and `clear` messages, one per 20 ms of audio and call, go through
//! one writer (event name, body, stream id) into one exactly sized `String` (stream id escaped
//! once per stream, base64 appended in place): the bytes are those `serde_json` writes for the
//! same object (keys sorted), without its map, its escaping pass over the base64 or its growing
//! buffer. Inbound messages are read
//! with borrowed serde structs; the payload is base64-decoded into one exactly sized buffer.
//!
//! A `media` payload must hold whole samples of the stream's codec: an odd byte count of 16-bit
//! linear audio is malformed (`odd_length`), as in the Asterisk dialect. Media before `start`
//! is not checked (the codec is not known yet); the session decodes only whole samples of it.
//!
//! This file only translates; it must not keep call state beyond the stream id, the extensions
//! and the sample width.

use std::borrow::Cow;
use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use serde_json::Value;

use super::{
    Capability, Codec, Dialect, DialectError, DialectKind, Inbound, Outbound, Started, StopReason,
    WireIn, WireOut, check_format, parse_digit,
};
use crate::ids::CallId;

/// The Twilio dialect for one stream.
#[derive(Debug)]
pub struct Twilio {
    stream_sid: String,
    /// `stream_sid` as a JSON string literal (quoted and escaped), written into every message.
    sid_json: String,
    ext_hangup: bool,
    ext_transfer: bool,
    /// Bytes per sample of a 16-bit linear stream (`None`: one-byte G.711, or not started).
    sample_bytes: Option<usize>,
}

impl Default for Twilio {
    fn default() -> Self {
        Self {
            stream_sid: String::new(),
            sid_json: "\"\"".to_owned(),
            ext_hangup: false,
            ext_transfer: false,
            sample_bytes: None,
        }
    }
}

impl Twilio {
    /// A decoder for a stream that has not started yet.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Start of every outbound message, up to the event name.
const HEAD: &str = r#"{"event":""#;
/// After the event name, up to the body.
const AFTER_EVENT: &str = r#"","#;
/// After the body, up to the stream id (the body ends with its comma).
const SID_KEY: &str = r#""streamSid":"#;

/// Appends `s` as a JSON string literal, escaped as `serde_json` escapes it (`\"`, `\\`, the
/// short forms `\b \f \n \r \t`, other control characters as `\u00xx`).
fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    let mut plain = 0;
    for (i, b) in s.bytes().enumerate() {
        let short = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0C => "\\f",
            0x00..=0x1F => "",
            _ => continue,
        };
        out.push_str(&s[plain..i]);
        plain = i + 1;
        if short.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0F)]));
        } else {
            out.push_str(short);
        }
    }
    out.push_str(&s[plain..]);
    out.push('"');
}

/// A JSON string or number (Twilio sends strings, Plivo numbers).
#[derive(Debug)]
enum NumOrStr<'a> {
    Num(u64),
    Str(Cow<'a, str>),
}

/// Read straight from the token (an untagged enum would buffer the value, try `u64`, and build
/// an error message before trying a string: once per media message).
impl<'de: 'a, 'a> Deserialize<'de> for NumOrStr<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = NumOrStr<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an unsigned number or a string")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Self::Value, E> {
                Ok(NumOrStr::Num(n))
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                s: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(NumOrStr::Str(Cow::Borrowed(s)))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(NumOrStr::Str(Cow::Owned(s.to_owned())))
            }
        }
        d.deserialize_any(Visit(std::marker::PhantomData))
    }
}

impl NumOrStr<'_> {
    fn to_u64(&self, field: &'static str) -> Result<u64, DialectError> {
        match self {
            NumOrStr::Num(n) => Ok(*n),
            NumOrStr::Str(s) => s
                .trim()
                .parse()
                .map_err(|_| DialectError::bad_value(field, s)),
        }
    }
}

#[derive(Deserialize, Debug)]
struct Message<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(
        default,
        borrow,
        alias = "stream_sid",
        alias = "stream_id",
        alias = "streamId"
    )]
    #[serde(rename = "streamSid")]
    stream_sid: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    start: Option<StartBody<'a>>,
    #[serde(default, borrow)]
    media: Option<MediaBody<'a>>,
    #[serde(default, borrow)]
    dtmf: Option<DtmfBody<'a>>,
    #[serde(default, borrow)]
    mark: Option<MarkBody<'a>>,
    /// Vonage-style top-level digit.
    #[serde(default, borrow)]
    digit: Option<Cow<'a, str>>,
    #[serde(default)]
    payload: Option<Value>,
}

#[derive(Deserialize, Debug)]
struct StartBody<'a> {
    #[serde(
        default,
        borrow,
        alias = "stream_sid",
        alias = "stream_id",
        alias = "streamId"
    )]
    #[serde(rename = "streamSid")]
    stream_sid: Option<Cow<'a, str>>,
    #[serde(
        default,
        borrow,
        alias = "call_sid",
        alias = "call_control_id",
        alias = "callId"
    )]
    #[serde(rename = "callSid")]
    call_sid: Option<Cow<'a, str>>,
    #[serde(default, alias = "custom_parameters")]
    #[serde(rename = "customParameters")]
    custom_parameters: Option<BTreeMap<String, Value>>,
    #[serde(default, borrow, alias = "media_format")]
    #[serde(rename = "mediaFormat")]
    media_format: Option<MediaFormat<'a>>,
    #[serde(default, borrow)]
    from: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    to: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Debug)]
struct MediaFormat<'a> {
    #[serde(default, borrow)]
    encoding: Option<Cow<'a, str>>,
    #[serde(default, borrow, alias = "sample_rate")]
    #[serde(rename = "sampleRate")]
    sample_rate: Option<NumOrStr<'a>>,
}

#[derive(Deserialize, Debug)]
struct MediaBody<'a> {
    #[serde(default, borrow)]
    track: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    timestamp: Option<NumOrStr<'a>>,
    #[serde(borrow)]
    payload: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Debug)]
struct DtmfBody<'a> {
    #[serde(default, borrow)]
    digit: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Debug)]
struct MarkBody<'a> {
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
}

fn codec_of(encoding: &str) -> Option<Codec> {
    match encoding {
        "audio/x-mulaw" | "audio/pcmu" | "PCMU" | "pcmu" | "mulaw" | "ulaw" => Some(Codec::Mulaw),
        "audio/x-alaw" | "audio/pcma" | "PCMA" | "pcma" | "alaw" => Some(Codec::Alaw),
        // Telnyx names the codec and sends RFC 2586 network byte order.
        "L16" => Some(Codec::L16 { big_endian: true }),
        "audio/x-l16" | "audio/x-raw" | "audio/l16" => Some(Codec::L16 { big_endian: false }),
        _ => None,
    }
}

fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl Twilio {
    fn start(&mut self, msg: &Message<'_>) -> Result<Inbound, DialectError> {
        let start = msg
            .start
            .as_ref()
            .ok_or(DialectError::MissingField("start"))?;
        let stream_sid = start
            .stream_sid
            .as_deref()
            .or(msg.stream_sid.as_deref())
            .unwrap_or_default()
            .to_owned();
        let call_sid = start
            .call_sid
            .as_deref()
            .filter(|s| !s.is_empty())
            .or(Some(stream_sid.as_str()).filter(|s| !s.is_empty()))
            .ok_or(DialectError::MissingField("start.callSid"))?
            .to_owned();
        let (codec, rate, encoding) = match &start.media_format {
            None => (Codec::Mulaw, 8000, "audio/x-mulaw".to_owned()),
            Some(f) => {
                let encoding = f.encoding.as_deref().unwrap_or("audio/x-mulaw").to_owned();
                let codec = codec_of(&encoding).ok_or_else(|| DialectError::UnsupportedFormat {
                    encoding: encoding.chars().take(32).collect(),
                    rate: 0,
                })?;
                let rate = match &f.sample_rate {
                    None => 8000,
                    Some(r) => u32::try_from(r.to_u64("mediaFormat.sampleRate")?)
                        .map_err(|_| DialectError::MissingField("mediaFormat.sampleRate"))?,
                };
                (codec, rate, encoding)
            }
        };
        check_format(codec, rate, &encoding)?;
        let mut params = BTreeMap::new();
        if let Some(from) = &start.from {
            params.insert("From".to_owned(), from.to_string());
        }
        if let Some(to) = &start.to {
            params.insert("To".to_owned(), to.to_string());
        }
        for (k, v) in start.custom_parameters.iter().flatten() {
            if let Some(text) = value_text(v) {
                params.insert(k.clone(), text);
            }
        }
        if let Some(ext) = params.get("x-ext") {
            for e in ext.split(',').map(str::trim) {
                match e {
                    "hangup" => self.ext_hangup = true,
                    "transfer" => self.ext_transfer = true,
                    _ => {}
                }
            }
        }
        self.sid_json.clear();
        push_json_str(&mut self.sid_json, &stream_sid);
        self.stream_sid = stream_sid.clone();
        self.sample_bytes = match codec {
            Codec::L16 { .. } => Some(codec.bytes_per_sample()),
            Codec::Mulaw | Codec::Alaw => None,
        };
        Ok(Inbound::Started(Started {
            call_id: CallId::new(call_sid),
            stream_id: stream_sid,
            codec,
            rate,
            params,
        }))
    }

    fn media(&self, msg: &Message<'_>) -> Result<Inbound, DialectError> {
        let media = msg
            .media
            .as_ref()
            .ok_or(DialectError::MissingField("media"))?;
        if let Some(track) = media.track.as_deref()
            && track != "inbound"
            && track != "inbound_track"
        {
            return Ok(Inbound::Ignored {
                what: "outbound_track",
            });
        }
        let payload = media
            .payload
            .as_deref()
            .ok_or(DialectError::MissingField("media.payload"))?;
        let mut bytes = Vec::with_capacity(base64::decoded_len_estimate(payload.len()));
        BASE64
            .decode_vec(payload.as_bytes(), &mut bytes)
            .map_err(|_| DialectError::BadBase64)?;
        if let Some(sample_bytes) = self.sample_bytes
            && bytes.len() % sample_bytes != 0
        {
            return Err(DialectError::OddLength {
                len: bytes.len(),
                sample_bytes,
            });
        }
        let ts_ms = match &media.timestamp {
            Some(t) => Some(t.to_u64("media.timestamp")?),
            None => None,
        };
        Ok(Inbound::Audio {
            ts_ms,
            payload: bytes,
        })
    }

    /// One outbound message, `{"event":"<event>",<body>"streamSid":<sid>}`: the keys in
    /// `serde_json`'s order, the body written by `body` (ending with its comma, or empty) into
    /// a `String` allocated once with `body_len` bytes for it. `event` is one of this file's
    /// own names and needs no escaping.
    fn message(&self, event: &str, body_len: usize, body: impl FnOnce(&mut String)) -> String {
        let mut out = String::with_capacity(
            HEAD.len()
                + event.len()
                + AFTER_EVENT.len()
                + body_len
                + SID_KEY.len()
                + self.sid_json.len()
                + 1,
        );
        out.push_str(HEAD);
        out.push_str(event);
        out.push_str(AFTER_EVENT);
        body(&mut out);
        out.push_str(SID_KEY);
        out.push_str(&self.sid_json);
        out.push('}');
        out
    }

    /// An outbound `media` message for `bytes`: `"media":{"payload":"<base64>"},`, exactly
    /// sized.
    fn media_message(&self, bytes: &[u8]) -> String {
        const OPEN: &str = r#""media":{"payload":""#;
        const CLOSE: &str = r#""},"#;
        let b64 = base64::encoded_len(bytes.len(), true).unwrap_or(0);
        self.message("media", OPEN.len() + b64 + CLOSE.len(), |out| {
            out.push_str(OPEN);
            BASE64.encode_string(bytes, out);
            out.push_str(CLOSE);
        })
    }

    /// An outbound `mark` message: `"mark":{"name":<escaped name>},` (sized for a name that
    /// needs no escaping).
    fn mark_message(&self, name: &str) -> String {
        const OPEN: &str = r#""mark":{"name":"#;
        const CLOSE: &str = "},";
        self.message("mark", OPEN.len() + name.len() + 2 + CLOSE.len(), |out| {
            out.push_str(OPEN);
            push_json_str(out, name);
            out.push_str(CLOSE);
        })
    }

    /// An outbound `clear` message: no body.
    fn clear_message(&self) -> String {
        self.message("clear", 0, |_| {})
    }

    /// A rare outbound message (hangup, transfer) built through `serde_json`.
    fn json(&self, event: &str, body: Option<(&str, Value)>) -> WireOut {
        let mut obj = serde_json::Map::new();
        obj.insert("event".into(), Value::String(event.into()));
        obj.insert("streamSid".into(), Value::String(self.stream_sid.clone()));
        if let Some((key, value)) = body {
            obj.insert(key.into(), value);
        }
        WireOut::Text(Value::Object(obj).to_string())
    }
}

impl Dialect for Twilio {
    fn kind(&self) -> DialectKind {
        DialectKind::Twilio
    }

    fn decode(&mut self, msg: WireIn<'_>) -> Result<Inbound, DialectError> {
        let text = match msg {
            WireIn::Text(t) => t,
            WireIn::Binary(_) => return Err(DialectError::UnexpectedBinary),
        };
        let msg: Message<'_> =
            serde_json::from_str(text).map_err(|e| DialectError::BadJson(e.to_string()))?;
        match msg.event.as_ref() {
            "connected" => Ok(Inbound::Connected),
            "start" => self.start(&msg),
            "media" => self.media(&msg),
            "dtmf" => {
                let digit = msg
                    .dtmf
                    .as_ref()
                    .and_then(|d| d.digit.as_deref())
                    .or(msg.digit.as_deref())
                    .ok_or(DialectError::MissingField("dtmf.digit"))?;
                Ok(Inbound::Dtmf {
                    digit: parse_digit("dtmf.digit", digit)?,
                })
            }
            "mark" => {
                let name = msg
                    .mark
                    .as_ref()
                    .and_then(|m| m.name.as_deref())
                    .ok_or(DialectError::MissingField("mark.name"))?;
                Ok(Inbound::MarkEchoed {
                    name: name.to_owned(),
                })
            }
            "stop" => Ok(Inbound::Stopped(StopReason::StreamStopped)),
            "error" => {
                let detail = msg
                    .payload
                    .as_ref()
                    .map(|p| p.to_string().chars().take(120).collect())
                    .unwrap_or_else(|| "error".to_owned());
                Ok(Inbound::Stopped(StopReason::GatewayError(detail)))
            }
            _ => Ok(Inbound::Ignored {
                what: "unknown_event",
            }),
        }
    }

    fn encode(&mut self, out: Outbound<'_>) -> Option<WireOut> {
        match out {
            Outbound::Play(bytes) => Some(WireOut::Text(self.media_message(bytes))),
            Outbound::Mark(name) => Some(WireOut::Text(self.mark_message(name))),
            Outbound::Clear => Some(WireOut::Text(self.clear_message())),
            Outbound::Hangup if self.ext_hangup => Some(self.json(
                "hangup",
                Some(("hangup", serde_json::json!({ "reason": "normal" }))),
            )),
            Outbound::Transfer { target } if self.ext_transfer => Some(self.json(
                "transfer",
                Some((
                    "transfer",
                    serde_json::json!({ "target": target, "mode": "blind" }),
                )),
            )),
            Outbound::Hangup | Outbound::Transfer { .. } => None,
        }
    }

    fn supports(&self, cap: Capability) -> bool {
        match cap {
            Capability::Marks | Capability::Clear => true,
            Capability::Hangup => self.ext_hangup,
            Capability::Transfer => self.ext_transfer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Digit;

    // Message shapes from Twilio's "Media Streams - WebSocket Messages" page, with realistic
    // values in place of the page's placeholders.
    const CONNECTED: &str = r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#;
    const START: &str = r#"{"event":"start","sequenceNumber":"1","start":{"accountSid":"AC00000000000000000000000000000001","streamSid":"MZ00000000000000000000000000000001","callSid":"CA00000000000000000000000000000001","tracks":["inbound"],"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1},"customParameters":{"To":"95017","From":"+8613800000000"}},"streamSid":"MZ00000000000000000000000000000001"}"#;
    const MEDIA: &str = r#"{"event":"media","sequenceNumber":"4","media":{"track":"inbound","chunk":"2","timestamp":"102","payload":"/////w=="},"streamSid":"MZ00000000000000000000000000000001"}"#;
    const DTMF: &str = r#"{"event":"dtmf","streamSid":"MZ00000000000000000000000000000001","sequenceNumber":"5","dtmf":{"track":"inbound_track","digit":"1"}}"#;
    const MARK: &str = r#"{"event":"mark","sequenceNumber":"4","streamSid":"MZ00000000000000000000000000000001","mark":{"name":"p1:welcome_95017"}}"#;
    const STOP: &str = r#"{"event":"stop","sequenceNumber":"5","stop":{"accountSid":"AC00000000000000000000000000000001","callSid":"CA00000000000000000000000000000001"},"streamSid":"MZ00000000000000000000000000000001"}"#;

    fn decode(t: &mut Twilio, s: &str) -> Result<Inbound, DialectError> {
        t.decode(WireIn::Text(s))
    }

    #[test]
    fn documented_session_decodes_in_order() {
        let mut t = Twilio::new();
        assert_eq!(decode(&mut t, CONNECTED), Ok(Inbound::Connected));
        let Ok(Inbound::Started(s)) = decode(&mut t, START) else {
            panic!("start did not decode")
        };
        assert_eq!(s.call_id.as_str(), "CA00000000000000000000000000000001");
        assert_eq!(s.stream_id, "MZ00000000000000000000000000000001");
        assert_eq!(s.codec, Codec::Mulaw);
        assert_eq!(s.rate, 8000);
        assert_eq!(s.params.get("To").map(String::as_str), Some("95017"));
        assert_eq!(
            decode(&mut t, MEDIA),
            Ok(Inbound::Audio {
                ts_ms: Some(102),
                payload: vec![0xff; 4]
            })
        );
        assert_eq!(
            decode(&mut t, DTMF),
            Ok(Inbound::Dtmf {
                digit: Digit::new('1').unwrap()
            })
        );
        assert_eq!(
            decode(&mut t, MARK),
            Ok(Inbound::MarkEchoed {
                name: "p1:welcome_95017".into()
            })
        );
        assert_eq!(
            decode(&mut t, STOP),
            Ok(Inbound::Stopped(StopReason::StreamStopped))
        );
    }

    #[test]
    fn outbound_messages_carry_the_stream_sid() {
        let mut t = Twilio::new();
        decode(&mut t, START).unwrap();
        let Some(WireOut::Text(media)) = t.encode(Outbound::Play(&[0xff, 0xff])) else {
            panic!("no media")
        };
        let v: Value = serde_json::from_str(&media).unwrap();
        assert_eq!(v["event"], "media");
        assert_eq!(v["streamSid"], "MZ00000000000000000000000000000001");
        assert_eq!(v["media"]["payload"], "//8=");
        let Some(WireOut::Text(mark)) = t.encode(Outbound::Mark("p3")) else {
            panic!("no mark")
        };
        let v: Value = serde_json::from_str(&mark).unwrap();
        assert_eq!(v["mark"]["name"], "p3");
        let Some(WireOut::Text(clear)) = t.encode(Outbound::Clear) else {
            panic!("no clear")
        };
        assert_eq!(
            clear,
            r#"{"event":"clear","streamSid":"MZ00000000000000000000000000000001"}"#
        );
    }

    /// The message `serde_json` writes for `{event, key: body, streamSid}` (how these were
    /// built before they were written directly).
    fn serde_form(sid: &str, event: &str, body: Option<(&str, Value)>) -> String {
        let mut t = Twilio::new();
        t.stream_sid = sid.to_owned();
        let WireOut::Text(s) = t.json(event, body) else {
            panic!("json() writes text")
        };
        s
    }

    fn started_with_sid(sid: &str) -> Twilio {
        let mut t = Twilio::new();
        let start = serde_json::json!({
            "event": "start",
            "start": { "streamSid": sid, "callSid": "CA1" },
        })
        .to_string();
        decode(&mut t, &start).unwrap();
        t
    }

    proptest::proptest! {
        #[test]
        fn outbound_messages_are_byte_identical_to_serde_json(
            sid in "\\PC{0,40}|[\\x00-\\x7f]{0,40}",
            name in "\\PC{0,24}|[\\x00-\\x7f]{0,24}",
            audio in proptest::collection::vec(proptest::num::u8::ANY, 0..400),
        ) {
            let mut t = started_with_sid(&sid);
            let media = serde_form(
                &sid,
                "media",
                Some(("media", serde_json::json!({ "payload": BASE64.encode(&audio) }))),
            );
            proptest::prop_assert_eq!(t.encode(Outbound::Play(&audio)), Some(WireOut::Text(media)));
            let mark = serde_form(&sid, "mark", Some(("mark", serde_json::json!({ "name": name }))));
            proptest::prop_assert_eq!(t.encode(Outbound::Mark(&name)), Some(WireOut::Text(mark)));
            let clear = serde_form(&sid, "clear", None);
            proptest::prop_assert_eq!(t.encode(Outbound::Clear), Some(WireOut::Text(clear)));
        }
    }

    #[test]
    fn media_before_start_carries_an_empty_stream_sid() {
        let mut t = Twilio::new();
        assert_eq!(
            t.encode(Outbound::Play(&[0xff])),
            Some(WireOut::Text(
                r#"{"event":"media","media":{"payload":"/w=="},"streamSid":""}"#.to_owned()
            ))
        );
    }

    #[test]
    fn hangup_and_transfer_are_sent_only_when_advertised() {
        let mut plain = Twilio::new();
        decode(&mut plain, START).unwrap();
        assert_eq!(plain.encode(Outbound::Hangup), None);
        assert_eq!(plain.encode(Outbound::Transfer { target: "tel:+1" }), None);

        let mut ext = Twilio::new();
        let start = START.replace(r#""From":"#, r#""x-ext":"hangup, transfer","From":"#);
        decode(&mut ext, &start).unwrap();
        assert!(ext.supports(Capability::Transfer));
        let Some(WireOut::Text(t)) = ext.encode(Outbound::Transfer {
            target: "sip:agent7@pbx",
        }) else {
            panic!("no transfer")
        };
        assert!(t.contains(r#""target":"sip:agent7@pbx""#));
        assert!(ext.encode(Outbound::Hangup).is_some());
    }

    #[test]
    fn telnyx_snake_case_start_with_pcma_decodes() {
        let mut t = Twilio::new();
        let start = r#"{"event":"start","sequence_number":"1","stream_id":"32de0dea-53cb","start":{"call_control_id":"v3:abc","from":"+8613900000000","to":"+8675583765566","custom_parameters":{},"media_format":{"encoding":"PCMA","sample_rate":8000,"channels":1}}}"#;
        let Ok(Inbound::Started(s)) = decode(&mut t, start) else {
            panic!("telnyx start did not decode")
        };
        assert_eq!(s.codec, Codec::Alaw);
        assert_eq!(s.call_id.as_str(), "v3:abc");
        assert_eq!(s.stream_id, "32de0dea-53cb");
        assert_eq!(
            s.params.get("To").map(String::as_str),
            Some("+8675583765566")
        );
    }

    #[test]
    fn numbers_sent_as_json_numbers_are_accepted_too() {
        let mut t = Twilio::new();
        let m = r#"{"event":"media","media":{"timestamp":40,"payload":""}}"#;
        assert_eq!(
            decode(&mut t, m),
            Ok(Inbound::Audio {
                ts_ms: Some(40),
                payload: vec![]
            })
        );
    }

    #[test]
    fn vonage_style_top_level_digit_is_read() {
        let mut t = Twilio::new();
        assert_eq!(
            decode(&mut t, r##"{"event":"dtmf","digit":"#"}"##),
            Ok(Inbound::Dtmf {
                digit: Digit::new('#').unwrap()
            })
        );
    }

    #[test]
    fn malformed_input_is_a_typed_error() {
        let mut t = Twilio::new();
        let cases: &[(&str, &str)] = &[
            ("{", "bad_json"),
            (r#"{"no_event":1}"#, "bad_json"),
            (
                r#"{"event":"media","media":{"payload":"!!notbase64"}}"#,
                "bad_base64",
            ),
            (r#"{"event":"media"}"#, "missing_field"),
            (
                r#"{"event":"media","media":{"timestamp":"soon","payload":""}}"#,
                "bad_value",
            ),
            (r#"{"event":"dtmf","dtmf":{"digit":"12"}}"#, "bad_value"),
            (r#"{"event":"dtmf","dtmf":{"digit":"x"}}"#, "bad_value"),
            (r#"{"event":"mark","mark":{}}"#, "missing_field"),
            (r#"{"event":"start"}"#, "missing_field"),
        ];
        for (input, reason) in cases {
            let err = decode(&mut t, input).expect_err(input);
            assert_eq!(err.reason(), *reason, "{input}");
            assert_eq!(err.fault(), super::super::Fault::Malformed);
        }
        assert_eq!(
            t.decode(WireIn::Binary(&[1, 2, 3])),
            Err(DialectError::UnexpectedBinary)
        );
    }

    #[test]
    fn odd_length_l16_payloads_are_malformed_and_even_ones_are_audio() {
        let mut t = Twilio::new();
        let start = START.replace(
            r#""encoding":"audio/x-mulaw""#,
            r#""encoding":"audio/x-l16""#,
        );
        let Ok(Inbound::Started(s)) = decode(&mut t, &start) else {
            panic!("l16 start did not decode")
        };
        assert_eq!(s.codec, Codec::L16 { big_endian: false });
        let media = |len: usize| {
            let payload = BASE64.encode(vec![0u8; len]);
            format!(r#"{{"event":"media","media":{{"timestamp":"20","payload":"{payload}"}}}}"#)
        };
        for len in [1, 3, 321] {
            let err = decode(&mut t, &media(len)).expect_err("odd length");
            assert_eq!(err.reason(), "odd_length", "{len} bytes");
            assert_eq!(err.fault(), super::super::Fault::Malformed);
        }
        for len in [0, 2, 320] {
            assert_eq!(
                decode(&mut t, &media(len)),
                Ok(Inbound::Audio {
                    ts_ms: Some(20),
                    payload: vec![0; len]
                }),
                "{len} bytes"
            );
        }
    }

    #[test]
    fn odd_length_mulaw_payloads_are_whole_samples() {
        let mut t = Twilio::new();
        decode(&mut t, START).unwrap();
        let m = format!(
            r#"{{"event":"media","media":{{"payload":"{}"}}}}"#,
            BASE64.encode([0xffu8; 3])
        );
        assert_eq!(
            decode(&mut t, &m),
            Ok(Inbound::Audio {
                ts_ms: None,
                payload: vec![0xff; 3]
            })
        );
    }

    #[test]
    fn wideband_stream_is_refused_as_unsupported() {
        let mut t = Twilio::new();
        let start = START.replace(
            r#""encoding":"audio/x-mulaw","sampleRate":8000"#,
            r#""encoding":"audio/x-l16","sampleRate":16000"#,
        );
        let err = decode(&mut t, &start).unwrap_err();
        assert_eq!(err.fault(), super::super::Fault::Unsupported);
    }

    #[test]
    fn outbound_track_media_and_unknown_events_are_ignored_not_fatal() {
        let mut t = Twilio::new();
        assert_eq!(
            decode(
                &mut t,
                r#"{"event":"media","media":{"track":"outbound","payload":"AA=="}}"#
            ),
            Ok(Inbound::Ignored {
                what: "outbound_track"
            })
        );
        assert_eq!(
            decode(&mut t, r#"{"event":"future_thing"}"#),
            Ok(Inbound::Ignored {
                what: "unknown_event"
            })
        );
    }
}
