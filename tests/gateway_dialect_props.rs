//! Property tests: no byte string or text a gateway can send panics a dialect decoder, and
//! every decode either yields a fact or a typed error with a bounded reason label.

use ivr::gateway::dialect::{DialectKind, Inbound, WireIn};
use proptest::prelude::*;

const REASONS: &[&str] = &[
    "bad_json",
    "bad_base64",
    "missing_field",
    "bad_value",
    "unexpected_binary",
    "odd_length",
    "unknown_control",
    "unsupported_format",
];

fn check(kind: DialectKind, msgs: &[WireIn<'_>]) {
    let mut d = kind.new_dialect();
    for m in msgs {
        if let Err(e) = d.decode(*m) {
            assert!(REASONS.contains(&e.reason()), "{e:?}");
        }
    }
}

/// JSON-ish text built from the vocabulary the decoders look for, so the search reaches deep
/// into the parsers rather than failing at the first brace.
fn jsonish() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(vec![
        "{",
        "}",
        "[",
        "]",
        ":",
        ",",
        "\"",
        "\"event\"",
        "\"start\"",
        "\"media\"",
        "\"dtmf\"",
        "\"mark\"",
        "\"stop\"",
        "\"payload\"",
        "\"digit\"",
        "\"timestamp\"",
        "\"name\"",
        "\"mediaFormat\"",
        "\"encoding\"",
        "\"sampleRate\"",
        "\"MEDIA_START\"",
        "\"format\"",
        "\"connection_id\"",
        "\"DTMF_END\"",
        "\"MEDIA_MARK_PROCESSED\"",
        "\"correlation_id\"",
        "\"ulaw\"",
        "\"audio/x-mulaw\"",
        "8000",
        "\"1\"",
        "null",
        "true",
        "-1",
        "1e999",
        "\"\\u0000\"",
        "\"//8=\"",
        "MEDIA_START ",
        "digit:",
        "format:alaw ",
        "format:slin ",
        "DTMF_END ",
    ]);
    prop::collection::vec(atoms, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic_any_decoder(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        for kind in [DialectKind::Twilio, DialectKind::Asterisk] {
            check(kind, &[WireIn::Binary(&bytes), WireIn::Text(&text)]);
        }
    }

    #[test]
    fn arbitrary_strings_never_panic_any_decoder(text in ".{0,300}") {
        for kind in [DialectKind::Twilio, DialectKind::Asterisk] {
            check(kind, &[WireIn::Text(&text)]);
        }
    }

    #[test]
    fn slin_frames_of_any_length_are_whole_samples_or_refused(
        frames in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..700), 1..8)
    ) {
        let mut d = DialectKind::Asterisk.new_dialect();
        let started = d.decode(WireIn::Text("MEDIA_START connection_id:c1 format:slin"));
        prop_assert!(matches!(started, Ok(Inbound::Started(_))));
        for f in &frames {
            match d.decode(WireIn::Binary(f)) {
                Ok(Inbound::Audio { payload, .. }) => prop_assert_eq!(payload.len() % 2, 0),
                Ok(other) => prop_assert!(false, "{other:?}"),
                Err(e) => {
                    prop_assert_eq!(e.reason(), "odd_length");
                    prop_assert_eq!(f.len() % 2, 1);
                }
            }
        }
    }

    #[test]
    fn json_like_fragments_never_panic_any_decoder(texts in prop::collection::vec(jsonish(), 1..8)) {
        let msgs: Vec<WireIn<'_>> = texts.iter().map(|t| WireIn::Text(t)).collect();
        for kind in [DialectKind::Twilio, DialectKind::Asterisk] {
            check(kind, &msgs);
        }
    }
}
