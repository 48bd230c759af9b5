//! WAV files in and out: the only file that imports `hound`.
//!
//! Reading accepts what ops and tools produce: 8/16/24/32-bit integer PCM and 32-bit float,
//! any number of channels (mixed down to mono by averaging), any rate, and G.711 μ-law or
//! A-law WAVs (format tags 7 and 6, which hound refuses: their header is parsed here).
//! Samples come back as `f32` with full scale at ±1.0; [`read_mono_8k`] also resamples to the
//! 8 kHz media rate. Writing makes 16-bit mono 8 kHz files, G.711 files from codes the caller
//! has already encoded, or any PCM/float layout (for tests and tools).
//!
//! This module reads and writes only the files it is asked to; it never panics on a file's
//! contents and never allocates more than the file's real size because a header says so.
//! Errors name the file and say what is wrong with it.

use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::media::resample;

/// How the samples of a WAV file are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Integer PCM of this many bits (8 is unsigned on disk, the others signed).
    Int {
        /// Bits per sample: 8, 16, 24 or 32.
        bits: u16,
    },
    /// 32-bit IEEE float.
    Float,
    /// G.711 μ-law, one byte per sample (format tag 7).
    MuLaw,
    /// G.711 A-law, one byte per sample (format tag 6).
    ALaw,
}

/// The two G.711 laws, for writing files of already-encoded codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum G711Law {
    /// μ-law (North America, Japan), WAV format tag 7.
    MuLaw,
    /// A-law (Europe, China), WAV format tag 6.
    ALaw,
}

impl G711Law {
    /// The WAV format tag of this law.
    fn format_tag(self) -> u16 {
        match self {
            G711Law::MuLaw => FORMAT_MULAW,
            G711Law::ALaw => FORMAT_ALAW,
        }
    }
}

/// Decoded audio, mixed down to mono.
#[derive(Clone, Debug, PartialEq)]
pub struct Audio {
    /// The file's sample rate in Hz.
    pub sample_rate: u32,
    /// Channels in the file (the samples here are already mixed down).
    pub channels: u16,
    /// How the file stored its samples.
    pub encoding: Encoding,
    /// Mono samples, full scale at ±1.0.
    pub samples: Vec<f32>,
}

impl Audio {
    /// How long the audio lasts.
    pub fn duration(&self) -> Duration {
        if self.sample_rate == 0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(self.samples.len() as f64 / f64::from(self.sample_rate))
    }

    /// The samples resampled to 8 kHz, still `f32`.
    pub fn to_8k(&self) -> Vec<f32> {
        resample::to_8k(&self.samples, self.sample_rate)
    }
}

/// The layout of a file to write with [`write_wav`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WavFormat {
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Interleaved channels.
    pub channels: u16,
    /// Integer PCM (8/16/24/32 bits) or float; G.711 files are written by [`write_wav_g711`].
    pub encoding: Encoding,
}

/// What went wrong with a WAV file. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum WavError {
    /// The file could not be opened or read.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a well-formed WAV file (garbage, truncated, inconsistent header).
    #[error("{}: not a valid WAV file: {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A well-formed WAV file in a format this engine does not read (ADPCM, MP3-in-WAV, ...).
    #[error(
        "{}: unsupported WAV format: {reason}; convert it to 16-bit PCM with \
         `sox {} -b 16 -e signed-integer OUT.wav`",
        path.display(),
        path.display()
    )]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// Which format it is.
        reason: String,
    },
    /// The file could not be written.
    #[error("{}: cannot write: {reason}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
}

/// WAV format tag for integer PCM.
const FORMAT_PCM: u16 = 1;
/// WAV format tag for IEEE float.
const FORMAT_FLOAT: u16 = 3;
/// WAV format tag for G.711 A-law.
const FORMAT_ALAW: u16 = 6;
/// WAV format tag for G.711 μ-law.
const FORMAT_MULAW: u16 = 7;
/// WAV format tag meaning "see the sub-format GUID".
const FORMAT_EXTENSIBLE: u16 = 0xFFFE;

/// Reads a WAV file into mono `f32` samples at the file's own rate.
pub fn read_wav(path: &Path) -> Result<Audio, WavError> {
    let bytes = fs::read(path).map_err(|source| WavError::Io {
        path: path.to_owned(),
        source,
    })?;
    decode_wav(path, &bytes)
}

/// Reads a WAV file, mixes it down and resamples it to 8 kHz 16-bit samples.
pub fn read_mono_8k(path: &Path) -> Result<Vec<i16>, WavError> {
    let audio = read_wav(path)?;
    Ok(audio.to_8k().into_iter().map(f32_to_i16).collect())
}

/// Decodes the bytes of a WAV file; `path` only names the file in errors.
pub fn decode_wav(path: &Path, bytes: &[u8]) -> Result<Audio, WavError> {
    let malformed = |reason: &str| WavError::Malformed {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let fmt = sniff_format(bytes).map_err(|reason| malformed(&reason))?;
    if find_chunk(bytes, b"data")
        .map_err(|reason| malformed(&reason))?
        .is_none()
    {
        return Err(malformed("no `data` chunk"));
    }
    match fmt.tag {
        FORMAT_MULAW | FORMAT_ALAW => decode_g711(path, bytes, &fmt),
        FORMAT_PCM | FORMAT_FLOAT => decode_with_hound(path, bytes),
        other => Err(WavError::Unsupported {
            path: path.to_owned(),
            reason: format!("format tag {other:#06x} ({})", format_name(other)),
        }),
    }
}

/// Converts a full-scale `f32` sample to `i16`, rounding and saturating.
pub fn f32_to_i16(s: f32) -> i16 {
    // `as` saturates on overflow and maps NaN to 0.
    (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

/// Writes 16-bit mono 8 kHz PCM.
pub fn write_wav_8k(path: &Path, samples: &[i16]) -> Result<(), WavError> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: resample::MEDIA_RATE_HZ,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let write_err = |e: hound::Error| WavError::Write {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let mut writer = hound::WavWriter::create(path, spec).map_err(write_err)?;
    {
        let mut w = writer.get_i16_writer(samples.len() as u32);
        for &s in samples {
            w.write_sample(s);
        }
        w.flush().map_err(write_err)?;
    }
    writer.finalize().map_err(write_err)
}

/// Writes a mono 8 kHz G.711 WAV (format tag 7 for μ-law, 6 for A-law) from codes already
/// encoded by the G.711 codec.
pub fn write_wav_g711(path: &Path, law: G711Law, codes: &[u8]) -> Result<(), WavError> {
    let data_len = u32::try_from(codes.len()).map_err(|_| WavError::Write {
        path: path.to_owned(),
        reason: "more than 4 GiB of audio".to_owned(),
    })?;
    let rate = resample::MEDIA_RATE_HZ;
    let mut out = Vec::with_capacity(codes.len() + 58);
    out.extend_from_slice(b"RIFF");
    // RIFF size: "WAVE" + fmt chunk (8 + 18) + fact chunk (8 + 4) + data chunk (8 + data, padded).
    let pad = codes.len() % 2;
    out.extend_from_slice(&(4 + 26 + 12 + 8 + data_len + pad as u32).to_le_bytes());
    out.extend_from_slice(b"WAVE");
    out.extend_from_slice(b"fmt ");
    out.extend_from_slice(&18u32.to_le_bytes());
    out.extend_from_slice(&law.format_tag().to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // channels
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes()); // bytes per second
    out.extend_from_slice(&1u16.to_le_bytes()); // block align
    out.extend_from_slice(&8u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(&0u16.to_le_bytes()); // no extension
    out.extend_from_slice(b"fact");
    out.extend_from_slice(&4u32.to_le_bytes());
    out.extend_from_slice(&data_len.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    out.extend_from_slice(codes);
    if pad == 1 {
        out.push(0);
    }
    fs::write(path, out).map_err(|e| WavError::Write {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// Writes interleaved samples (full scale ±1.0) in any PCM or float layout.
pub fn write_wav(path: &Path, format: WavFormat, samples: &[f32]) -> Result<(), WavError> {
    let unsupported = |reason: &str| WavError::Write {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let (bits, sample_format) = match format.encoding {
        Encoding::Int { bits } if matches!(bits, 8 | 16 | 24 | 32) => {
            (bits, hound::SampleFormat::Int)
        }
        Encoding::Int { .. } => return Err(unsupported("integer PCM must be 8/16/24/32 bits")),
        Encoding::Float => (32, hound::SampleFormat::Float),
        Encoding::MuLaw | Encoding::ALaw => {
            return Err(unsupported("G.711 files are written with write_wav_g711"));
        }
    };
    if format.channels == 0 || format.sample_rate == 0 {
        return Err(unsupported("channels and sample rate must be non-zero"));
    }
    let spec = hound::WavSpec {
        channels: format.channels,
        sample_rate: format.sample_rate,
        bits_per_sample: bits,
        sample_format,
    };
    let write_err = |e: hound::Error| WavError::Write {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let mut writer = hound::WavWriter::create(path, spec).map_err(write_err)?;
    for &s in samples {
        match sample_format {
            hound::SampleFormat::Float => writer.write_sample(s).map_err(write_err)?,
            hound::SampleFormat::Int => {
                let full = f64::from(1u32 << (bits - 1) as u32);
                let v = (f64::from(s) * full).round().clamp(-full, full - 1.0) as i32;
                writer.write_sample(v).map_err(write_err)?;
            }
        }
    }
    writer.finalize().map_err(write_err)
}

/// The parts of the `fmt ` chunk needed to choose a decoder.
#[derive(Debug)]
struct FmtChunk {
    /// Format tag (the sub-format's for WAVE_FORMAT_EXTENSIBLE).
    tag: u16,
    channels: u16,
    sample_rate: u32,
    bits: u16,
}

fn le_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Walks the RIFF chunks and returns the `id` chunk's body, clipped to the bytes present
/// (`Err` with the claimed and present lengths if it is truncated).
fn find_chunk<'a>(bytes: &'a [u8], id: &[u8; 4]) -> Result<Option<&'a [u8]>, String> {
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let len = le_u32(bytes, at + 4).unwrap_or(0) as usize;
        let body_start = at + 8;
        if &bytes[at..at + 4] == id {
            let present = bytes.len() - body_start;
            if len > present {
                return Err(format!(
                    "the `{}` chunk claims {len} bytes but only {present} are present (truncated file?)",
                    String::from_utf8_lossy(id)
                ));
            }
            return Ok(Some(&bytes[body_start..body_start + len]));
        }
        // Chunks are padded to an even length.
        at = body_start.saturating_add(len).saturating_add(len % 2);
    }
    Ok(None)
}

/// Checks the RIFF/WAVE header and reads the `fmt ` chunk.
fn sniff_format(bytes: &[u8]) -> Result<FmtChunk, String> {
    if bytes.is_empty() {
        return Err("the file is empty".to_owned());
    }
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        if bytes.len() >= 4 && &bytes[0..4] == b"RIFX" {
            return Err("big-endian RIFX files are not supported".to_owned());
        }
        return Err("no RIFF/WAVE header (is it a WAV file?)".to_owned());
    }
    let fmt = find_chunk(bytes, b"fmt ")?.ok_or("no `fmt ` chunk")?;
    let short = || "the `fmt ` chunk is too short".to_owned();
    let mut tag = le_u16(fmt, 0).ok_or_else(short)?;
    let channels = le_u16(fmt, 2).ok_or_else(short)?;
    let sample_rate = le_u32(fmt, 4).ok_or_else(short)?;
    let bits = le_u16(fmt, 14).ok_or_else(short)?;
    if tag == FORMAT_EXTENSIBLE {
        // WAVEFORMATEXTENSIBLE: the sub-format GUID starts at byte 24; its first two bytes are
        // the plain format tag.
        tag = le_u16(fmt, 24).ok_or("the extensible `fmt ` chunk is too short")?;
    }
    if channels == 0 {
        return Err("the header says 0 channels".to_owned());
    }
    if sample_rate == 0 {
        return Err("the header says a sample rate of 0 Hz".to_owned());
    }
    Ok(FmtChunk {
        tag,
        channels,
        sample_rate,
        bits,
    })
}

fn format_name(tag: u16) -> &'static str {
    match tag {
        0x0002 => "Microsoft ADPCM",
        0x0011 => "IMA ADPCM",
        0x0031 => "GSM 6.10",
        0x0040 => "G.721 ADPCM",
        0x0050 => "MPEG",
        0x0055 => "MP3",
        _ => "unknown",
    }
}

/// Decodes a G.711 WAV whose header hound refuses.
fn decode_g711(path: &Path, bytes: &[u8], fmt: &FmtChunk) -> Result<Audio, WavError> {
    let malformed = |reason: String| WavError::Malformed {
        path: path.to_owned(),
        reason,
    };
    if fmt.bits != 8 {
        return Err(malformed(format!(
            "a G.711 file must have 8 bits per sample, the header says {}",
            fmt.bits
        )));
    }
    let data = find_chunk(bytes, b"data")
        .map_err(malformed)?
        .ok_or_else(|| malformed("no `data` chunk".to_owned()))?;
    let (decode, encoding): (fn(u8) -> i16, Encoding) = if fmt.tag == FORMAT_MULAW {
        (mulaw_to_linear, Encoding::MuLaw)
    } else {
        (alaw_to_linear, Encoding::ALaw)
    };
    let channels = usize::from(fmt.channels);
    let scale = 1.0 / (32768.0 * channels as f32);
    let samples = data
        .chunks_exact(channels)
        .map(|frame| frame.iter().map(|&c| f32::from(decode(c))).sum::<f32>() * scale)
        .collect();
    Ok(Audio {
        sample_rate: fmt.sample_rate,
        channels: fmt.channels,
        encoding,
        samples,
    })
}

/// Decodes PCM and float files with hound.
fn decode_with_hound(path: &Path, bytes: &[u8]) -> Result<Audio, WavError> {
    let map_err = |e: hound::Error| match e {
        hound::Error::Unsupported => WavError::Unsupported {
            path: path.to_owned(),
            reason: "a sample layout hound does not read".to_owned(),
        },
        hound::Error::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            WavError::Malformed {
                path: path.to_owned(),
                reason: "the file ends in the middle of its data (truncated?)".to_owned(),
            }
        }
        other => WavError::Malformed {
            path: path.to_owned(),
            reason: other.to_string(),
        },
    };
    let mut reader = hound::WavReader::new(Cursor::new(bytes)).map_err(map_err)?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels);
    // Never trust the header's length for the allocation: cap it by the bytes present.
    let claimed = reader.len() as usize / channels.max(1);
    let mut samples = Vec::with_capacity(claimed.min(bytes.len()));
    let (encoding, scale) = match spec.sample_format {
        hound::SampleFormat::Float => (Encoding::Float, 1.0),
        hound::SampleFormat::Int => (
            Encoding::Int {
                bits: spec.bits_per_sample,
            },
            1.0 / f64::from(1u32 << (spec.bits_per_sample.clamp(1, 32) - 1) as u32) as f32,
        ),
    };
    let scale = scale / channels as f32;
    let mut acc = 0.0f32;
    let mut in_frame = 0;
    match spec.sample_format {
        hound::SampleFormat::Float => {
            for s in reader.samples::<f32>() {
                acc += s.map_err(map_err)?;
                in_frame += 1;
                if in_frame == channels {
                    samples.push(acc * scale);
                    acc = 0.0;
                    in_frame = 0;
                }
            }
        }
        hound::SampleFormat::Int => {
            for s in reader.samples::<i32>() {
                acc += s.map_err(map_err)? as f32;
                in_frame += 1;
                if in_frame == channels {
                    samples.push(acc * scale);
                    acc = 0.0;
                    in_frame = 0;
                }
            }
        }
    }
    Ok(Audio {
        sample_rate: spec.sample_rate,
        channels: spec.channels,
        encoding,
        samples,
    })
}

/// G.711 μ-law code to a 16-bit linear sample (ITU-T G.711 Table 2, scaled by 4 to 16 bits).
fn mulaw_to_linear(code: u8) -> i16 {
    let u = !code;
    let exponent = (u >> 4) & 0x07;
    let mantissa = i32::from(u & 0x0F);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    // |magnitude| ≤ 32124, so it fits an i16.
    (if u & 0x80 != 0 { -magnitude } else { magnitude }) as i16
}

/// G.711 A-law code to a 16-bit linear sample (ITU-T G.711 Table 1, scaled by 8 to 16 bits).
fn alaw_to_linear(code: u8) -> i16 {
    let a = code ^ 0x55;
    let exponent = (a >> 4) & 0x07;
    let mantissa = i32::from(a & 0x0F);
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    // |magnitude| ≤ 32256, so it fits an i16.
    (if a & 0x80 != 0 { magnitude } else { -magnitude }) as i16
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/wav")
            .join(name)
    }

    fn sine(freq: f32, rate: u32, n: usize, amplitude: f32) -> Vec<f32> {
        (0..n)
            .map(|i| amplitude * (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin())
            .collect()
    }

    fn to_i16(audio: &Audio) -> Vec<i16> {
        audio.samples.iter().map(|&s| f32_to_i16(s)).collect()
    }

    #[test]
    fn pcm_16_bit_8k_round_trips_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.wav");
        let samples: Vec<i16> = (0..1000)
            .map(|i| ((i * 97) % 65536 - 32768) as i16)
            .collect();
        write_wav_8k(&path, &samples).unwrap();
        let audio = read_wav(&path).unwrap();
        assert_eq!(audio.sample_rate, 8000);
        assert_eq!(audio.channels, 1);
        assert_eq!(audio.encoding, Encoding::Int { bits: 16 });
        assert_eq!(to_i16(&audio), samples);
        assert_eq!(read_mono_8k(&path).unwrap(), samples);
    }

    #[test]
    fn every_integer_width_and_float_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let original = sine(440.0, 16_000, 800, 0.7);
        for (encoding, tolerance) in [
            (Encoding::Int { bits: 8 }, 1.0 / 128.0),
            (Encoding::Int { bits: 16 }, 1.0 / 32768.0),
            (Encoding::Int { bits: 24 }, 1.0 / 8_388_608.0),
            (Encoding::Int { bits: 32 }, 1e-7),
            (Encoding::Float, 0.0),
        ] {
            let path = dir.path().join(format!("{encoding:?}.wav"));
            let format = WavFormat {
                sample_rate: 16_000,
                channels: 1,
                encoding,
            };
            write_wav(&path, format, &original).unwrap();
            let audio = read_wav(&path).unwrap();
            assert_eq!(audio.encoding, encoding);
            assert_eq!(audio.sample_rate, 16_000);
            assert_eq!(audio.samples.len(), original.len());
            for (a, b) in audio.samples.iter().zip(&original) {
                assert!((a - b).abs() <= tolerance, "{encoding:?}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn stereo_is_mixed_down_by_averaging() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stereo.wav");
        // Left 0.5, right -0.25 → 0.125; then left 0.2, right 0.2 → 0.2.
        let interleaved = [0.5, -0.25, 0.2, 0.2];
        let format = WavFormat {
            sample_rate: 8000,
            channels: 2,
            encoding: Encoding::Float,
        };
        write_wav(&path, format, &interleaved).unwrap();
        let audio = read_wav(&path).unwrap();
        assert_eq!(audio.channels, 2);
        assert_eq!(audio.samples, vec![0.125, 0.2]);
    }

    #[test]
    fn sox_stereo_24_bit_extensible_file_is_read() {
        let audio = read_wav(&fixture("stereo_24bit_44k.wav")).unwrap();
        assert_eq!(audio.channels, 2);
        assert_eq!(audio.sample_rate, 44_100);
        assert_eq!(audio.encoding, Encoding::Int { bits: 24 });
        assert_eq!(audio.samples.len(), 2205);
        let peak = audio.samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!((peak - 0.5).abs() < 0.01, "peak {peak}");
        let at_8k = read_mono_8k(&fixture("stereo_24bit_44k.wav")).unwrap();
        assert_eq!(at_8k.len(), 400);
    }

    #[test]
    fn all_256_g711_codes_decode_as_sox_decodes_them() {
        for law in ["mulaw", "alaw"] {
            let coded = read_wav(&fixture(&format!("all_codes_{law}.wav"))).unwrap();
            let reference = read_wav(&fixture(&format!("all_codes_{law}_as16.wav"))).unwrap();
            assert_eq!(coded.samples.len(), 256);
            assert_eq!(to_i16(&coded), to_i16(&reference), "{law}");
        }
    }

    #[test]
    fn g711_sines_from_sox_match_their_linear_decoding() {
        for (law, encoding) in [("mulaw", Encoding::MuLaw), ("alaw", Encoding::ALaw)] {
            let coded = read_wav(&fixture(&format!("sine_{law}.wav"))).unwrap();
            assert_eq!(coded.encoding, encoding);
            assert_eq!(coded.sample_rate, 8000);
            let reference = read_wav(&fixture(&format!("sine_{law}_as16.wav"))).unwrap();
            assert_eq!(to_i16(&coded), to_i16(&reference), "{law}");
        }
    }

    #[test]
    fn g711_codes_round_trip_through_write_wav_g711() {
        let dir = tempfile::tempdir().unwrap();
        let codes: Vec<u8> = (0..=255).collect();
        for (law, name) in [(G711Law::MuLaw, "mulaw"), (G711Law::ALaw, "alaw")] {
            let path = dir.path().join(format!("{name}.wav"));
            write_wav_g711(&path, law, &codes).unwrap();
            let ours = read_wav(&path).unwrap();
            let sox = read_wav(&fixture(&format!("all_codes_{name}.wav"))).unwrap();
            assert_eq!(ours, sox);
        }
        // Known anchor values of G.711.
        assert_eq!(mulaw_to_linear(0xFF), 0);
        assert_eq!(mulaw_to_linear(0x80), 32124);
        assert_eq!(mulaw_to_linear(0x00), -32124);
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xAA), 32256);
    }

    #[test]
    fn any_rate_is_resampled_to_8k_on_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("44k.wav");
        let format = WavFormat {
            sample_rate: 44_100,
            channels: 1,
            encoding: Encoding::Int { bits: 16 },
        };
        write_wav(&path, format, &sine(1000.0, 44_100, 44_100, 0.5)).unwrap();
        let samples = read_mono_8k(&path).unwrap();
        assert_eq!(samples.len(), 8000);
        let peak = samples[400..7600]
            .iter()
            .map(|s| s.unsigned_abs())
            .max()
            .unwrap();
        assert!((16_000..=16_800).contains(&peak), "peak {peak}");
    }

    #[test]
    fn truncated_file_is_refused_naming_file_and_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.wav");
        write_wav_8k(&path, &vec![1000i16; 800]).unwrap();
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..bytes.len() - 301]).unwrap();
        let err = read_wav(&path).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, WavError::Malformed { .. }), "{text}");
        assert!(text.contains("cut.wav"), "{text}");
        assert!(text.contains("truncated"), "{text}");

        let g711 = dir.path().join("cut_mulaw.wav");
        let bytes = fs::read(fixture("sine_mulaw.wav")).unwrap();
        fs::write(&g711, &bytes[..bytes.len() - 10]).unwrap();
        let text = read_wav(&g711).unwrap_err().to_string();
        assert!(
            text.contains("cut_mulaw.wav") && text.contains("truncated"),
            "{text}"
        );
    }

    #[test]
    fn garbage_and_empty_files_are_refused_naming_file_and_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.wav");
        fs::write(&path, b"this is not audio, it is a text file").unwrap();
        let text = read_wav(&path).unwrap_err().to_string();
        assert!(
            text.contains("notes.wav") && text.contains("no RIFF/WAVE header"),
            "{text}"
        );

        fs::write(&path, b"").unwrap();
        let text = read_wav(&path).unwrap_err().to_string();
        assert!(
            text.contains("notes.wav") && text.contains("empty"),
            "{text}"
        );

        let missing = dir.path().join("missing.wav");
        let err = read_wav(&missing).unwrap_err();
        assert!(matches!(err, WavError::Io { .. }));
        assert!(err.to_string().contains("missing.wav"));
    }

    #[test]
    fn unsupported_format_says_how_to_convert_with_sox() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("adpcm.wav");
        let mut bytes = fs::read(fixture("sine_mulaw.wav")).unwrap();
        bytes[20] = 0x02; // format tag 2: Microsoft ADPCM
        fs::write(&path, &bytes).unwrap();
        let err = read_wav(&path).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, WavError::Unsupported { .. }), "{text}");
        assert!(
            text.contains("adpcm.wav") && text.contains("ADPCM"),
            "{text}"
        );
        assert!(text.contains("sox") && text.contains("-b 16"), "{text}");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_wav(Path::new("x.wav"), &bytes);
        }

        #[test]
        fn corrupted_headers_never_panic(pos in 0usize..58, value in any::<u8>(), cut in 0usize..80) {
            let mut bytes = fs::read(fixture("sine_mulaw.wav")).unwrap();
            bytes[pos] = value;
            bytes.truncate(bytes.len() - cut);
            let _ = decode_wav(Path::new("x.wav"), &bytes);
            let mut pcm = fs::read(fixture("sine_mulaw_as16.wav")).unwrap();
            pcm[pos % 44] = value;
            pcm.truncate(pcm.len() - cut);
            let _ = decode_wav(Path::new("x.wav"), &pcm);
        }
    }
}
