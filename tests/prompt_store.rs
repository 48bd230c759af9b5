//! The prompt store and playback cursor, over temporary folders of real WAV files.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a failed setup must fail the test"
)]

use std::fs;
use std::path::Path;

use ivr::flow::model::Utterance;
use ivr::ids::{Language, PromptId, SampleCount};
use ivr::media::prompts::{
    FRAME_SAMPLES, Frame, Playback, PromptError, PromptStore, SPOKEN_NUMBER_PROMPTS, prompt_file,
};
use ivr::media::wav::{self, Encoding, G711Law, WavFormat};

fn zh() -> Language {
    Language::new("zh-CN")
}

fn en() -> Language {
    Language::new("en-US")
}

fn id(s: &str) -> PromptId {
    PromptId::new(s)
}

/// Length in samples (at 8 kHz) given to each spoken-number prompt in [`write_number_set`].
fn number_len(index: usize) -> usize {
    300 + 37 * index
}

/// Writes every number and digit prompt as an 8 kHz 16-bit file of a known length.
fn write_number_set(folder: &Path) {
    fs::create_dir_all(folder).unwrap();
    for (i, prompt) in SPOKEN_NUMBER_PROMPTS.iter().enumerate() {
        let samples = vec![1000i16 + i as i16; number_len(i)];
        wav::write_wav_8k(&folder.join(format!("{prompt}.wav")), &samples).unwrap();
    }
}

fn number_index(prompt: &str) -> usize {
    SPOKEN_NUMBER_PROMPTS
        .iter()
        .position(|p| p.as_str() == prompt)
        .unwrap()
}

fn frames_for(samples: usize) -> u64 {
    samples.div_ceil(FRAME_SAMPLES) as u64
}

fn sine(rate: u32, seconds: f32, channels: u16) -> Vec<f32> {
    let n = (rate as f32 * seconds) as usize;
    (0..n)
        .flat_map(|i| {
            let s = 0.5 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / rate as f32).sin();
            std::iter::repeat_n(s, usize::from(channels))
        })
        .collect()
}

/// zh-CN and en-US folders with the number set, plus `welcome` in several layouts.
fn prompt_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for lang in ["zh-CN", "en-US"] {
        write_number_set(&dir.path().join(lang));
    }
    let zh = dir.path().join("zh-CN");
    let formats = [
        ("welcome", 44_100, 2, Encoding::Int { bits: 24 }, 1.0),
        ("please_hold", 16_000, 1, Encoding::Float, 0.5),
        ("goodbye", 48_000, 1, Encoding::Int { bits: 16 }, 0.25),
        ("menu_short", 22_050, 1, Encoding::Int { bits: 8 }, 0.3),
        ("menu_long", 11_025, 1, Encoding::Int { bits: 32 }, 0.7),
    ];
    for (name, rate, channels, encoding, seconds) in formats {
        let format = WavFormat {
            sample_rate: rate,
            channels,
            encoding,
        };
        wav::write_wav(
            &zh.join(format!("{name}.wav")),
            format,
            &sine(rate, seconds, channels),
        )
        .unwrap();
    }
    // A G.711 file: 0.1 s of μ-law code 0x80 (+32124).
    wav::write_wav_g711(&zh.join("beep.wav"), G711Law::MuLaw, &[0x80; 800]).unwrap();
    wav::write_wav_8k(&dir.path().join("en-US/welcome.wav"), &[500i16; 4000]).unwrap();
    dir
}

#[test]
fn store_loads_wavs_of_several_formats_and_rates_at_8k() {
    let dir = prompt_dir();
    let store = PromptStore::load(dir.path(), &[zh(), en()]).unwrap();
    let expected = [
        ("welcome", 8000),
        ("please_hold", 4000),
        ("goodbye", 2000),
        ("menu_short", 2400),
        ("menu_long", 5600),
        ("beep", 800),
    ];
    for (name, samples) in expected {
        assert!(store.has(&id(name), &zh()), "{name}");
        assert_eq!(
            store.duration(&id(name), &zh()),
            Some(SampleCount(samples)),
            "{name}"
        );
    }
    assert_eq!(
        store.duration(&id("welcome"), &en()),
        Some(SampleCount(4000))
    );
    assert!(!store.has(&id("please_hold"), &en()));
    assert!(!store.has(&id("welcome"), &Language::new("fr-FR")));
    assert_eq!(store.len(&zh()), SPOKEN_NUMBER_PROMPTS.len() + 6);
    assert_eq!(store.languages(), &[zh(), en()]);
}

#[test]
fn resampled_prompt_keeps_its_level() {
    let dir = prompt_dir();
    let store = PromptStore::load(dir.path(), &[zh()]).unwrap();
    let mut playback = Playback::new(&store, &[Utterance::Prompt(id("welcome"))], &zh()).unwrap();
    let mut frame: Frame = [0; FRAME_SAMPLES];
    let mut peak = 0u16;
    while playback.next_frame(&mut frame) {
        peak = peak.max(frame.iter().map(|s| s.unsigned_abs()).max().unwrap());
    }
    // 0.5 of full scale is 16384.
    assert!((15_800..=16_900).contains(&peak), "peak {peak}");
}

#[test]
fn frames_are_exactly_160_samples_and_the_last_is_padded_with_silence() {
    let mut store = PromptStore::default();
    let samples: Vec<i16> = (1..=250).collect();
    store.insert_pcm(&zh(), &id("short"), &samples);
    let mut playback = Playback::new(&store, &[Utterance::Prompt(id("short"))], &zh()).unwrap();
    assert_eq!(playback.total(), SampleCount(320));
    let mut frame: Frame = [7; FRAME_SAMPLES];
    assert!(playback.next_frame(&mut frame));
    assert_eq!(frame.len(), 160);
    assert_eq!(&frame[..], &samples[..160]);
    assert!(playback.next_frame(&mut frame));
    assert_eq!(&frame[..90], &samples[160..]);
    assert!(frame[90..].iter().all(|&s| s == 0));
    let before = frame;
    assert!(!playback.next_frame(&mut frame));
    assert_eq!(frame, before, "an ended playback leaves the buffer alone");
    assert!(playback.is_finished());
}

#[test]
fn playback_of_prompt_number_and_digits_has_the_expected_length() {
    let dir = prompt_dir();
    let store = PromptStore::load(dir.path(), &[zh(), en()]).unwrap();
    let utterances = [
        Utterance::Prompt(id("welcome")),
        Utterance::Number(42),
        Utterance::Digits("12#".to_owned()),
    ];
    let mut playback = Playback::new(&store, &utterances, &zh()).unwrap();
    let expected_frames = frames_for(8000)
        + ["number_42", "digit_1", "digit_2", "digit_hash"]
            .iter()
            .map(|p| frames_for(number_len(number_index(p))))
            .sum::<u64>();
    assert_eq!(playback.total(), SampleCount(expected_frames * 160));
    assert_eq!(playback.remaining(), playback.total());

    let mut frame: Frame = [0; FRAME_SAMPLES];
    let mut frames = 0u64;
    let mut seen_levels = Vec::new();
    while playback.next_frame(&mut frame) {
        frames += 1;
        assert_eq!(
            playback.remaining(),
            SampleCount((expected_frames - frames) * 160)
        );
        if seen_levels.last() != Some(&frame[0]) && (1000..1200).contains(&frame[0]) {
            seen_levels.push(frame[0]);
        }
    }
    assert_eq!(frames, expected_frames);
    // The number and digit prompts were played in order (each has its own constant level in
    // 1000..1200; the sine of `welcome` is never constant across frame starts like that).
    let order: Vec<i16> = ["number_42", "digit_1", "digit_2", "digit_hash"]
        .iter()
        .map(|p| 1000 + number_index(p) as i16)
        .collect();
    assert_eq!(seen_levels, order);
}

#[test]
fn numbers_above_99_are_read_digit_by_digit_without_number_many() {
    let dir = prompt_dir();
    let store = PromptStore::load(dir.path(), &[en()]).unwrap();
    let many = Playback::new(&store, &[Utterance::Number(150)], &en()).unwrap();
    let digits = Playback::new(&store, &[Utterance::Digits("150".to_owned())], &en()).unwrap();
    assert_eq!(many.total(), digits.total());
    assert_eq!(
        store.utterance_prompts(&Utterance::Number(150), &en()),
        vec![id("digit_1"), id("digit_5"), id("digit_0")]
    );
}

#[test]
fn numbers_above_99_say_number_many_when_the_language_has_it() {
    let dir = prompt_dir();
    wav::write_wav_8k(&dir.path().join("zh-CN/number_many.wav"), &[9; 1000]).unwrap();
    let store = PromptStore::load(dir.path(), &[zh(), en()]).unwrap();
    let many = Playback::new(&store, &[Utterance::Number(1_000_000)], &zh()).unwrap();
    assert_eq!(many.total(), SampleCount(frames_for(1000) * 160));
    assert_eq!(
        store.utterance_prompts(&Utterance::Number(100), &zh()),
        vec![id("number_many")]
    );
    assert_eq!(
        store.utterance_prompts(&Utterance::Number(99), &zh()),
        vec![id("number_99")]
    );
}

#[test]
fn separators_in_digit_strings_are_skipped() {
    let dir = prompt_dir();
    let store = PromptStore::load(dir.path(), &[en()]).unwrap();
    let spaced = Playback::new(&store, &[Utterance::Digits("1-2 *".to_owned())], &en()).unwrap();
    let plain = Playback::new(&store, &[Utterance::Digits("12*".to_owned())], &en()).unwrap();
    assert_eq!(spaced.total(), plain.total());
    assert_eq!(
        store.utterance_prompts(&Utterance::Digits("a#".to_owned()), &en()),
        vec![id("digit_a"), id("digit_hash")]
    );
}

#[test]
fn looping_playback_starts_again_and_never_ends() {
    let mut store = PromptStore::default();
    let music: Vec<i16> = (0..480).map(|i| i as i16).collect();
    store.insert_pcm(&zh(), &id("hold_music"), &music);
    let mut playback = Playback::new(&store, &[Utterance::Prompt(id("hold_music"))], &zh())
        .unwrap()
        .looping();
    let mut frame: Frame = [0; FRAME_SAMPLES];
    for pass in 0..5 {
        for i in 0..3 {
            assert!(playback.next_frame(&mut frame), "pass {pass} frame {i}");
            assert_eq!(frame[0], (i * 160) as i16);
            assert_eq!(playback.remaining(), SampleCount((2 - i) * 160));
        }
    }
    assert!(!playback.is_finished());

    let mut empty = Playback::new(&store, &[], &zh()).unwrap().looping();
    assert!(!empty.next_frame(&mut frame));
    assert!(empty.is_finished());
}

#[test]
fn rewind_starts_the_playback_over() {
    let mut store = PromptStore::default();
    store.insert_pcm(&zh(), &id("a"), &[5; 400]);
    let mut playback = Playback::new(&store, &[Utterance::Prompt(id("a"))], &zh()).unwrap();
    let mut frame: Frame = [0; FRAME_SAMPLES];
    while playback.next_frame(&mut frame) {}
    playback.rewind();
    assert_eq!(playback.remaining(), SampleCount(480));
    assert!(playback.next_frame(&mut frame));
}

#[test]
fn shared_folder_serves_every_language_unless_one_has_its_own() {
    let dir = prompt_dir();
    let shared = dir.path().join("shared");
    fs::create_dir_all(&shared).unwrap();
    wav::write_wav_8k(&shared.join("hold_music.wav"), &[100; 16_000]).unwrap();
    wav::write_wav_8k(&shared.join("welcome.wav"), &[100; 16_000]).unwrap();
    let store = PromptStore::load(dir.path(), &[zh(), en()]).unwrap();
    for lang in [zh(), en()] {
        assert_eq!(
            store.duration(&id("hold_music"), &lang),
            Some(SampleCount(16_000))
        );
    }
    assert_eq!(
        store.duration(&id("welcome"), &en()),
        Some(SampleCount(4000))
    );
}

#[test]
fn missing_number_prompt_is_a_load_error_naming_prompt_language_and_file() {
    let dir = prompt_dir();
    fs::remove_file(dir.path().join("en-US/digit_hash.wav")).unwrap();
    fs::remove_file(dir.path().join("zh-CN/number_7.wav")).unwrap();
    let errors = PromptStore::load(dir.path(), &[zh(), en()]).unwrap_err();
    let texts: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 2, "{texts:#?}");
    assert!(texts.iter().any(|t| t.contains("`number_7`")
        && t.contains("zh-CN")
        && t.contains("zh-CN/number_7.wav")));
    assert!(texts.iter().any(|t| t.contains("`digit_hash`")
        && t.contains("en-US")
        && t.contains("en-US/digit_hash.wav")));
    assert!(
        errors
            .iter()
            .all(|e| matches!(e, PromptError::Missing { .. }))
    );
}

#[test]
fn bad_files_are_load_errors_naming_file_and_reason_and_all_are_reported() {
    let dir = prompt_dir();
    fs::write(
        dir.path().join("zh-CN/broken.wav"),
        b"RIFF\x10\0\0\0WAVEjunkjunk",
    )
    .unwrap();
    let cut = fs::read(dir.path().join("en-US/welcome.wav")).unwrap();
    fs::write(dir.path().join("en-US/welcome.wav"), &cut[..cut.len() / 2]).unwrap();
    fs::write(dir.path().join("en-US/README.txt"), b"not a prompt").unwrap();
    let errors = PromptStore::load(dir.path(), &[zh(), en()]).unwrap_err();
    let texts: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 2, "{texts:#?}");
    assert!(
        texts
            .iter()
            .any(|t| t.contains("zh-CN/broken.wav") && t.contains("no `fmt ` chunk")),
        "{texts:#?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.contains("en-US/welcome.wav") && t.contains("truncated")),
        "{texts:#?}"
    );
}

#[test]
fn missing_language_folder_is_a_load_error() {
    let dir = prompt_dir();
    let errors = PromptStore::load(dir.path(), &[Language::new("fr-FR")]).unwrap_err();
    assert!(
        matches!(&errors[0], PromptError::Folder { language, .. } if language.as_str() == "fr-FR")
    );
    assert!(errors[0].to_string().contains("fr-FR"));
}

#[test]
fn playback_of_a_prompt_not_loaded_names_prompt_and_language() {
    let dir = prompt_dir();
    let store = PromptStore::load(dir.path(), &[zh(), en()]).unwrap();
    let err = Playback::new(&store, &[Utterance::Prompt(id("please_hold"))], &en()).unwrap_err();
    assert!(matches!(err, PromptError::NotLoaded { .. }));
    let text = err.to_string();
    assert!(
        text.contains("please_hold") && text.contains("en-US"),
        "{text}"
    );
}

#[test]
fn prompt_file_finds_the_language_file_then_the_shared_one() {
    let dir = prompt_dir();
    fs::create_dir_all(dir.path().join("shared")).unwrap();
    wav::write_wav_8k(&dir.path().join("shared/hold_music.wav"), &[1; 160]).unwrap();
    assert_eq!(
        prompt_file(dir.path(), &id("welcome"), &en()),
        Some(dir.path().join("en-US/welcome.wav"))
    );
    assert_eq!(
        prompt_file(dir.path(), &id("hold_music"), &zh()),
        Some(dir.path().join("shared/hold_music.wav"))
    );
    assert_eq!(prompt_file(dir.path(), &id("please_hold"), &en()), None);
}
