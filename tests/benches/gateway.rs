//! CPU cost of the gateway's per-message work: one Twilio `media` message decoded (JSON,
//! base64) into the engine's fact, one 20 ms frame of prompt audio encoded into a Twilio
//! `media` message, and the 20 ms G.711 μ-law encode in between. Run with
//! `cargo bench --bench gateway`.

use std::hint::black_box;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use criterion::{Criterion, criterion_group, criterion_main};
use ivr::gateway::dialect::{DialectKind, Inbound, Outbound, WireIn};
use ivr::media::g711::Law;

const FRAME: usize = 160;

/// A media message as Twilio sends it (field order and widths as in its documentation).
fn twilio_media() -> String {
    let codes: Vec<u8> = (0..FRAME)
        .map(|i| Law::Mulaw.encode(((i as f32 * 0.3).sin() * 4000.0) as i16))
        .collect();
    format!(
        concat!(
            r#"{{"event":"media","sequenceNumber":"3417","media":{{"track":"inbound","#,
            r#""chunk":"3416","timestamp":"68320","payload":"{}"}},"#,
            r#""streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0"}}"#
        ),
        BASE64.encode(codes)
    )
}

fn started_twilio() -> Box<dyn ivr::gateway::dialect::Dialect> {
    let mut d = DialectKind::Twilio.new_dialect();
    let start = ivr::load::wire::start_message("CA1", "95017", "+10000000000");
    match d.decode(WireIn::Text(&start)) {
        Ok(Inbound::Started(_)) => d,
        other => panic!("start refused: {other:?}"),
    }
}

fn decode(c: &mut Criterion) {
    let msg = twilio_media();
    let mut d = started_twilio();
    c.bench_function("twilio_decode_media_message", |b| {
        b.iter(|| {
            let ev = d.decode(WireIn::Text(black_box(&msg)));
            black_box(ev).ok();
        })
    });
}

fn encode(c: &mut Criterion) {
    let pcm: Vec<i16> = (0..FRAME)
        .map(|i| ((i as f32 * 0.2).sin() * 3000.0) as i16)
        .collect();
    let mut codes = [0u8; FRAME];
    let mut d = started_twilio();
    c.bench_function("twilio_encode_media_message", |b| {
        b.iter(|| {
            let out = d.encode(Outbound::Play(black_box(&codes)));
            black_box(out);
        })
    });
    c.bench_function("g711_mulaw_encode_per_frame", |b| {
        b.iter(|| {
            Law::Mulaw.encode_frame(black_box(&pcm), &mut codes).ok();
            black_box(&codes);
        })
    });
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
