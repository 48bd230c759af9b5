//! Twilio Media Streams messages for the load generator: every per-frame message is built once
//! as a template and sent by cheap clone (a reference count, no allocation), and the engine's
//! messages are classified by scanning for a few keys rather than parsing a JSON tree. It must
//! not hold per-call state.
//!
//! The counters a real gateway puts in each media message (`sequenceNumber`, `chunk`,
//! `timestamp`) are fixed strings of realistic width in the templates: the engine parses them
//! the same way, and no per-frame formatting is needed.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::ids::Digit;
use crate::media::dtmf::{ToneSpec, millis, push_digits};
use crate::media::g711::Law;

/// Samples in one 20 ms frame at 8 kHz (ITU-T G.711 framing).
pub const FRAME_SAMPLES: usize = 160;
/// Frames a key press lasts: an 80 ms tone then an 80 ms gap.
pub const PRESS_FRAMES: usize = 8;
/// Of which the tone takes the first.
pub const TONE_FRAMES: usize = 4;

/// The stream id the generator announces (constant: the engine keys calls by `callSid`).
pub const STREAM_SID: &str = "MZ00000000000000000000000000000000";

/// One media message carrying `codes` (160 μ-law bytes).
fn media_json(codes: &[u8]) -> String {
    format!(
        concat!(
            r#"{{"event":"media","sequenceNumber":"1000000","media":{{"track":"inbound","#,
            r#""chunk":"1000000","timestamp":"20000000","payload":"{}"}},"streamSid":"{}"}}"#
        ),
        BASE64.encode(codes),
        STREAM_SID
    )
}

/// The pre-built frames of one key.
#[derive(Clone, Debug)]
pub struct KeyFrames {
    /// The key.
    pub digit: Digit,
    /// Media messages for the press (tone then gap); silence when keys go as events only.
    pub frames: [Utf8Bytes; PRESS_FRAMES],
    /// The gateway's `dtmf` event for the key.
    pub event: Utf8Bytes,
}

/// Every message the generator sends per frame, built once per run.
#[derive(Clone, Debug)]
pub struct Templates {
    /// A frame of μ-law silence.
    pub silence: Utf8Bytes,
    /// Twilio's `connected` message.
    pub connected: Utf8Bytes,
    /// Frames of the keys the script presses.
    pub keys: Vec<KeyFrames>,
}

impl Templates {
    /// Builds the templates for `digits`, with tones in the audio when `in_band`.
    pub fn new(digits: &[Digit], in_band: bool) -> Templates {
        let law = Law::Mulaw;
        let silence_codes = [law.silence(); FRAME_SAMPLES];
        let silence = Utf8Bytes::from(media_json(&silence_codes));
        let spec = ToneSpec {
            tone: millis(80),
            gap: millis(80),
            ..ToneSpec::default()
        };
        let mut keys: Vec<KeyFrames> = Vec::new();
        for &digit in digits {
            if keys.iter().any(|k| k.digit == digit) {
                continue;
            }
            let mut pcm = Vec::with_capacity(FRAME_SAMPLES * PRESS_FRAMES);
            push_digits(&[digit], &spec, &mut pcm);
            pcm.resize(FRAME_SAMPLES * PRESS_FRAMES, 0);
            let frames = std::array::from_fn(|i| {
                if !in_band {
                    return silence.clone();
                }
                let codes: Vec<u8> = pcm[i * FRAME_SAMPLES..(i + 1) * FRAME_SAMPLES]
                    .iter()
                    .map(|&s| law.encode(s))
                    .collect();
                Utf8Bytes::from(media_json(&codes))
            });
            let event = Utf8Bytes::from(format!(
                r#"{{"event":"dtmf","streamSid":"{STREAM_SID}","sequenceNumber":"1000000","dtmf":{{"track":"inbound_track","digit":"{digit}"}}}}"#
            ));
            keys.push(KeyFrames {
                digit,
                frames,
                event,
            });
        }
        Templates {
            silence,
            connected: Utf8Bytes::from_static(
                r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#,
            ),
            keys,
        }
    }

    /// The index of `digit`'s frames.
    pub fn key_index(&self, digit: Digit) -> Option<usize> {
        self.keys.iter().position(|k| k.digit == digit)
    }
}

/// Twilio's `start` for one call (sent once per call).
pub fn start_message(call_sid: &str, number: &str, caller: &str) -> String {
    format!(
        concat!(
            r#"{{"event":"start","sequenceNumber":"1","streamSid":"{sid}","start":{{"#,
            r#""accountSid":"AC00000000000000000000000000000000","streamSid":"{sid}","#,
            r#""callSid":"{call}","tracks":["inbound"],"#,
            r#""mediaFormat":{{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"#,
            r#""customParameters":{{"To":"{to}","From":"{from}"}}}}}}"#
        ),
        sid = STREAM_SID,
        call = call_sid,
        to = number,
        from = caller
    )
}

/// Twilio's `stop` for one call.
pub fn stop_message(call_sid: &str) -> String {
    format!(
        r#"{{"event":"stop","sequenceNumber":"1000001","streamSid":"{STREAM_SID}","stop":{{"accountSid":"AC00000000000000000000000000000000","callSid":"{call_sid}"}}}}"#
    )
}

/// The echo of a mark whose audio has played.
pub fn mark_echo(name: &str) -> String {
    format!(
        r#"{{"event":"mark","streamSid":"{STREAM_SID}","sequenceNumber":"1000000","mark":{{"name":"{name}"}}}}"#
    )
}

/// What one engine message asks of the caller's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FromEngine<'a> {
    /// Audio to buffer: this many decoded bytes (μ-law samples).
    Media(usize),
    /// A mark to echo once the audio before it has played.
    Mark(&'a str),
    /// Empty the playout buffer and echo every pending mark.
    Clear,
    /// Anything else (ignored).
    Other,
}

/// The string value of `"key":"value"` (no escapes inside: the engine's values are ids and
/// base64).
fn string_field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(i) = text[from..].find(key) {
        let at = from + i + key.len();
        from = at;
        let rest = text[at..].trim_start();
        let Some(rest) = rest.strip_prefix(':') else {
            continue;
        };
        let rest = rest.trim_start().strip_prefix('"')?;
        let end = rest.find('"')?;
        return Some(&rest[..end]);
    }
    None
}

/// Bytes that `b64` decodes to, without decoding it.
fn decoded_len(b64: &str) -> usize {
    let pad = b64.bytes().rev().take_while(|&b| b == b'=').count();
    (b64.len() / 4 * 3).saturating_sub(pad)
}

/// Classifies one TEXT message from the engine.
pub fn classify(text: &str) -> FromEngine<'_> {
    match string_field(text, "\"event\"") {
        Some("media") => {
            FromEngine::Media(string_field(text, "\"payload\"").map_or(0, decoded_len))
        }
        Some("mark") => string_field(text, "\"name\"").map_or(FromEngine::Other, FromEngine::Mark),
        Some("clear") => FromEngine::Clear,
        _ => FromEngine::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_messages_are_classified_whatever_the_key_order() {
        let media = format!(
            r#"{{"event":"media","media":{{"payload":"{}"}},"streamSid":"MZ1"}}"#,
            BASE64.encode([0xffu8; 320])
        );
        assert_eq!(classify(&media), FromEngine::Media(320));
        assert_eq!(
            classify(r#"{"mark":{"name":"3:menu_main"},"event":"mark","streamSid":"MZ1"}"#),
            FromEngine::Mark("3:menu_main")
        );
        assert_eq!(
            classify(r#"{"event": "clear", "streamSid": "MZ1"}"#),
            FromEngine::Clear
        );
        assert_eq!(classify(r#"{"event":"hangup"}"#), FromEngine::Other);
        assert_eq!(classify("not json"), FromEngine::Other);
    }

    #[test]
    fn decoded_length_accounts_for_padding() {
        assert_eq!(decoded_len(&BASE64.encode([1u8; 160])), 160);
        assert_eq!(decoded_len(&BASE64.encode([1u8; 161])), 161);
        assert_eq!(decoded_len(&BASE64.encode([1u8; 162])), 162);
    }

    #[test]
    fn templates_are_messages_the_engine_dialect_accepts() {
        use crate::gateway::dialect::{DialectKind, Inbound, WireIn};
        let one = Digit::new('1').expect("digit");
        let t = Templates::new(&[one, one], true);
        assert_eq!(t.keys.len(), 1);
        let mut d = DialectKind::Twilio.new_dialect();
        let start = start_message("CA1", "95017", "+10000000000");
        assert!(matches!(
            d.decode(WireIn::Text(&start)),
            Ok(Inbound::Started(_))
        ));
        for msg in std::iter::once(&t.silence).chain(t.keys[0].frames.iter()) {
            match d.decode(WireIn::Text(msg.as_str())) {
                Ok(Inbound::Audio { payload, .. }) => assert_eq!(payload.len(), FRAME_SAMPLES),
                other => panic!("not audio: {other:?}"),
            }
        }
        assert!(matches!(
            d.decode(WireIn::Text(t.keys[0].event.as_str())),
            Ok(Inbound::Dtmf { digit }) if digit == one
        ));
        assert!(matches!(
            d.decode(WireIn::Text(&mark_echo("1:x"))),
            Ok(Inbound::MarkEchoed { .. })
        ));
        assert!(matches!(
            d.decode(WireIn::Text(&stop_message("CA1"))),
            Ok(Inbound::Stopped(_))
        ));
    }
}
