//! Asterisk `chan_websocket` (20.16 / 21.11 / 22.6 / 23.0 and later): BINARY frames carry raw
//! codec bytes (ulaw/alaw, 160 bytes per 20 ms), TEXT frames carry control. Both control forms
//! are read: the deprecated plain text (`MEDIA_START connection_id:… format:ulaw …`,
//! `DTMF_END digit:5`) and JSON (`{"event":"MEDIA_START",…}`, selected by `f(json)`). Commands
//! are written in the form the stream started with: `HANGUP`, `FLUSH_MEDIA` (barge-in),
//! `MARK_MEDIA <id>` answered by `MEDIA_MARK_PROCESSED`. `MEDIA_XOFF`/`MEDIA_XON` pause and
//! resume our sending. Transfer is not a media command: the session hangs up and the dialplan
//! asks `GET /api/calls/{id}/next` where to go.
//!
//! Per-call parameters come from `channel_variables` (JSON form) and, added by the session,
//! the URI parameters set with `v(to=${EXTEN},from=${CALLERID(num)})`.
//!
//! A binary frame must hold whole samples of the stream's codec: an odd byte count of `slin`
//! (16-bit) is malformed. Frames that come before `MEDIA_START` are not checked (the codec is
//! not known yet); the session decodes only whole samples of them.
//!
//! This file only translates; it must not keep call state beyond the control format and the
//! sample width.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{
    Capability, Codec, Dialect, DialectError, DialectKind, Inbound, Outbound, Started, WireIn,
    WireOut, check_format, parse_digit,
};
use crate::ids::CallId;

/// The Asterisk dialect for one stream.
#[derive(Debug, Default)]
pub struct Asterisk {
    /// Control messages are JSON (else plain text); decided by `MEDIA_START`.
    json: Option<bool>,
    /// Bytes per sample of the stream's codec; decided by `MEDIA_START`.
    sample_bytes: Option<usize>,
}

impl Asterisk {
    /// A decoder for a stream that has not started yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn uses_json(&self) -> bool {
        self.json.unwrap_or(true)
    }
}

/// One control event, whichever form it came in.
struct Event {
    name: String,
    fields: BTreeMap<String, Value>,
}

impl Event {
    fn text(&self, key: &str) -> Option<String> {
        match self.fields.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

fn parse_plain(text: &str) -> Result<Event, DialectError> {
    let mut words = text.split_ascii_whitespace();
    let name = words
        .next()
        .ok_or_else(|| DialectError::UnknownControl(String::new()))?;
    let mut fields = BTreeMap::new();
    let mut bare = Vec::new();
    for w in words {
        match w.split_once(':') {
            Some((k, v)) => {
                fields.insert(k.to_owned(), Value::String(v.to_owned()));
            }
            None => bare.push(w),
        }
    }
    // `MEDIA_BUFFERING_COMPLETED <id>` and similar carry a bare id.
    if let Some(id) = bare.first() {
        fields
            .entry("correlation_id".to_owned())
            .or_insert_with(|| Value::String((*id).to_owned()));
    }
    Ok(Event {
        name: name.to_owned(),
        fields,
    })
}

fn parse_json(text: &str) -> Result<Event, DialectError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| DialectError::BadJson(e.to_string()))?;
    let Value::Object(map) = value else {
        return Err(DialectError::BadJson("not an object".into()));
    };
    let name = match map.get("event").or_else(|| map.get("type")) {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(DialectError::MissingField("event")),
    };
    Ok(Event {
        name,
        fields: map.into_iter().collect(),
    })
}

fn codec_of(format: &str) -> Option<Codec> {
    match format {
        "ulaw" | "mulaw" => Some(Codec::Mulaw),
        "alaw" => Some(Codec::Alaw),
        "slin" => Some(Codec::L16 { big_endian: false }),
        _ => None,
    }
}

impl Asterisk {
    fn media_start(&mut self, ev: &Event, json: bool) -> Result<Inbound, DialectError> {
        let format = ev
            .text("format")
            .ok_or(DialectError::MissingField("format"))?;
        let codec = codec_of(&format).ok_or_else(|| DialectError::UnsupportedFormat {
            encoding: format.chars().take(32).collect(),
            rate: 0,
        })?;
        check_format(codec, 8000, &format)?;
        let connection_id = ev
            .text("connection_id")
            .ok_or(DialectError::MissingField("connection_id"))?;
        let call_id = ev
            .text("channel_id")
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| connection_id.clone());
        let mut params = BTreeMap::new();
        if let Some(Value::Object(vars)) = ev.fields.get("channel_variables") {
            for (k, v) in vars {
                if let Value::String(s) = v {
                    params.insert(k.clone(), s.clone());
                }
            }
        }
        if let Some(channel) = ev.text("channel") {
            params.insert("channel".to_owned(), channel);
        }
        self.json = Some(json);
        self.sample_bytes = Some(codec.bytes_per_sample());
        Ok(Inbound::Started(Started {
            call_id: CallId::new(call_id),
            stream_id: connection_id,
            codec,
            rate: 8000,
            params,
        }))
    }

    fn command(&self, name: &str, correlation_id: Option<&str>) -> WireOut {
        if self.uses_json() {
            let mut obj = serde_json::Map::new();
            obj.insert("command".into(), Value::String(name.into()));
            if let Some(id) = correlation_id {
                obj.insert("correlation_id".into(), Value::String(id.into()));
            }
            WireOut::Text(Value::Object(obj).to_string())
        } else {
            match correlation_id {
                Some(id) => WireOut::Text(format!("{name} {id}")),
                None => WireOut::Text(name.to_owned()),
            }
        }
    }
}

impl Dialect for Asterisk {
    fn kind(&self) -> DialectKind {
        DialectKind::Asterisk
    }

    fn decode(&mut self, msg: WireIn<'_>) -> Result<Inbound, DialectError> {
        let text = match msg {
            WireIn::Binary(bytes) => {
                if let Some(sample_bytes) = self.sample_bytes
                    && bytes.len() % sample_bytes != 0
                {
                    return Err(DialectError::OddLength {
                        len: bytes.len(),
                        sample_bytes,
                    });
                }
                return Ok(Inbound::Audio {
                    ts_ms: None,
                    payload: bytes.to_vec(),
                });
            }
            WireIn::Text(t) => t,
        };
        let trimmed = text.trim_start();
        let json = trimmed.starts_with(['{', '[']);
        let ev = if json {
            parse_json(trimmed)?
        } else {
            parse_plain(trimmed)?
        };
        match ev.name.as_str() {
            "MEDIA_START" => self.media_start(&ev, json),
            "DTMF_END" => {
                let digit = ev
                    .text("digit")
                    .ok_or(DialectError::MissingField("digit"))?;
                Ok(Inbound::Dtmf {
                    digit: parse_digit("digit", &digit)?,
                })
            }
            "MEDIA_MARK_PROCESSED" => {
                let name = ev
                    .text("correlation_id")
                    .ok_or(DialectError::MissingField("correlation_id"))?;
                Ok(Inbound::MarkEchoed { name })
            }
            "MEDIA_XOFF" => Ok(Inbound::Paused),
            "MEDIA_XON" => Ok(Inbound::Resumed),
            "HANGUP" | "MEDIA_END" => Ok(Inbound::Stopped(super::StopReason::StreamStopped)),
            "STATUS" | "QUEUE_DRAINED" | "MEDIA_BUFFERING_COMPLETED" | "DTMF_BEGIN" => {
                Ok(Inbound::Ignored { what: "status" })
            }
            _ if json => Ok(Inbound::Ignored {
                what: "unknown_event",
            }),
            other => Err(DialectError::UnknownControl(
                other.chars().take(32).collect(),
            )),
        }
    }

    fn encode(&mut self, out: Outbound<'_>) -> Option<WireOut> {
        match out {
            Outbound::Play(bytes) => Some(WireOut::Binary(bytes.to_vec())),
            Outbound::Mark(name) => Some(self.command("MARK_MEDIA", Some(name))),
            Outbound::Clear => Some(self.command("FLUSH_MEDIA", None)),
            Outbound::Hangup => Some(self.command("HANGUP", None)),
            Outbound::Transfer { .. } => None,
        }
    }

    fn supports(&self, cap: Capability) -> bool {
        match cap {
            Capability::Marks | Capability::Clear | Capability::Hangup => true,
            Capability::Transfer => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::dialect::{Fault, StopReason};
    use crate::ids::Digit;

    const PLAIN_START: &str = "MEDIA_START connection_id:e226e283-c90a-4ea9-9e37-389000b9ef47 channel:WebSocket/connectionid channel_id:pbx1-123456789.999 format:alaw optimal_frame_size:160 ptime:20";
    const JSON_START: &str = r#"{
        "event": "MEDIA_START",
        "connection_id": "e226e283-c90a-4ea9-9e37-389000b9ef47",
        "channel": "WebSocket/connectionid",
        "channel_id": "pbx1-123456789.999",
        "format": "ulaw",
        "optimal_frame_size": 160,
        "ptime": 20,
        "channel_variables": { "IVR_TO": "95017", "IVR_FROM": "+8613800000000" }
    }"#;

    #[test]
    fn plain_text_session_decodes_and_answers_in_plain_text() {
        let mut a = Asterisk::new();
        let Ok(Inbound::Started(s)) = a.decode(WireIn::Text(PLAIN_START)) else {
            panic!("no start")
        };
        assert_eq!(s.codec, Codec::Alaw);
        assert_eq!(s.call_id.as_str(), "pbx1-123456789.999");
        assert_eq!(s.stream_id, "e226e283-c90a-4ea9-9e37-389000b9ef47");
        assert_eq!(
            a.decode(WireIn::Binary(&[0xd5; 160])),
            Ok(Inbound::Audio {
                ts_ms: None,
                payload: vec![0xd5; 160]
            })
        );
        assert_eq!(
            a.decode(WireIn::Text("DTMF_END digit:5")),
            Ok(Inbound::Dtmf {
                digit: Digit::new('5').unwrap()
            })
        );
        assert_eq!(a.decode(WireIn::Text("MEDIA_XOFF")), Ok(Inbound::Paused));
        assert_eq!(a.decode(WireIn::Text("MEDIA_XON")), Ok(Inbound::Resumed));
        assert_eq!(
            a.encode(Outbound::Mark("p2")),
            Some(WireOut::Text("MARK_MEDIA p2".into()))
        );
        assert_eq!(
            a.encode(Outbound::Clear),
            Some(WireOut::Text("FLUSH_MEDIA".into()))
        );
        assert_eq!(
            a.encode(Outbound::Hangup),
            Some(WireOut::Text("HANGUP".into()))
        );
        assert_eq!(
            a.encode(Outbound::Play(&[1, 2])),
            Some(WireOut::Binary(vec![1, 2]))
        );
    }

    #[test]
    fn json_session_reads_channel_variables_and_answers_in_json() {
        let mut a = Asterisk::new();
        let Ok(Inbound::Started(s)) = a.decode(WireIn::Text(JSON_START)) else {
            panic!("no start")
        };
        assert_eq!(s.codec, Codec::Mulaw);
        assert_eq!(s.params.get("IVR_TO").map(String::as_str), Some("95017"));
        assert_eq!(
            a.decode(WireIn::Text(
                r#"{"event":"MEDIA_MARK_PROCESSED","channel_id":"x","correlation_id":"p7"}"#
            )),
            Ok(Inbound::MarkEchoed { name: "p7".into() })
        );
        assert_eq!(
            a.decode(WireIn::Text(r#"{"event":"DTMF_END","digit":"*"}"#)),
            Ok(Inbound::Dtmf {
                digit: Digit::new('*').unwrap()
            })
        );
        assert_eq!(
            a.encode(Outbound::Mark("p7")),
            Some(WireOut::Text(
                r#"{"command":"MARK_MEDIA","correlation_id":"p7"}"#.into()
            ))
        );
        assert_eq!(
            a.encode(Outbound::Hangup),
            Some(WireOut::Text(r#"{"command":"HANGUP"}"#.into()))
        );
        assert_eq!(a.encode(Outbound::Transfer { target: "tel:1" }), None);
        assert_eq!(
            a.decode(WireIn::Text(r#"{"event":"HANGUP"}"#)),
            Ok(Inbound::Stopped(StopReason::StreamStopped))
        );
    }

    #[test]
    fn plain_mark_processed_with_field_or_bare_id_is_read() {
        let mut a = Asterisk::new();
        assert_eq!(
            a.decode(WireIn::Text("MEDIA_MARK_PROCESSED correlation_id:p1")),
            Ok(Inbound::MarkEchoed { name: "p1".into() })
        );
        assert_eq!(
            a.decode(WireIn::Text("MEDIA_MARK_PROCESSED p2")),
            Ok(Inbound::MarkEchoed { name: "p2".into() })
        );
    }

    #[test]
    fn malformed_control_is_a_typed_error() {
        let mut a = Asterisk::new();
        let cases: &[(&str, &str)] = &[
            ("{not json", "bad_json"),
            ("[1,2]", "bad_json"),
            (r#"{"digit":"1"}"#, "missing_field"),
            ("DTMF_END", "missing_field"),
            ("DTMF_END digit:Z", "bad_value"),
            ("MEDIA_START connection_id:x", "missing_field"),
            ("WHAT_IS_THIS now", "unknown_control"),
            ("", "unknown_control"),
        ];
        for (input, reason) in cases {
            let err = a.decode(WireIn::Text(input)).expect_err(input);
            assert_eq!(err.reason(), *reason, "{input:?}");
        }
    }

    #[test]
    fn odd_length_slin_frames_are_malformed_and_even_ones_are_audio() {
        let mut a = Asterisk::new();
        let start = "MEDIA_START connection_id:c1 channel_id:pbx1-1.1 format:slin";
        let Ok(Inbound::Started(s)) = a.decode(WireIn::Text(start)) else {
            panic!("no start")
        };
        assert_eq!(s.codec, Codec::L16 { big_endian: false });
        assert_eq!(
            a.decode(WireIn::Binary(&[0; 320])),
            Ok(Inbound::Audio {
                ts_ms: None,
                payload: vec![0; 320]
            })
        );
        for len in [1, 161, 321] {
            let err = a.decode(WireIn::Binary(&vec![0; len])).unwrap_err();
            assert_eq!(err.reason(), "odd_length", "{len} bytes");
            assert_eq!(err.fault(), Fault::Malformed);
        }
    }

    #[test]
    fn odd_length_ulaw_frames_are_whole_samples() {
        let mut a = Asterisk::new();
        assert!(matches!(
            a.decode(WireIn::Text(PLAIN_START)),
            Ok(Inbound::Started(_))
        ));
        assert!(matches!(
            a.decode(WireIn::Binary(&[0xd5; 161])),
            Ok(Inbound::Audio { .. })
        ));
    }

    #[test]
    fn opus_stream_is_refused_as_unsupported() {
        let mut a = Asterisk::new();
        let err = a
            .decode(WireIn::Text("MEDIA_START connection_id:x format:opus"))
            .unwrap_err();
        assert_eq!(err.fault(), Fault::Unsupported);
    }
}
