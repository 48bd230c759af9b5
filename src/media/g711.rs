//! G.711 companding: μ-law and A-law, encode and decode, bit-exact with ITU-T G.711.
//!
//! Linear audio in this crate is 16-bit signed PCM. G.711 itself works on 14-bit (μ-law) and
//! 13-bit (A-law) magnitudes: encoding drops the low 2 (μ-law) or 3 (A-law) bits with an
//! arithmetic shift (rounding towards minus infinity), exactly as sox and the classic reference
//! code do; decoding returns the segment midpoint scaled back to 16 bits (μ-law ±32124, A-law
//! ±32256 at the extremes). `tests/g711.rs` checks every code and every `i16` against files
//! written by sox.
//!
//! Both directions are table lookups: decode through 256-entry tables, encode through a 16 KiB
//! (μ-law) or 8 KiB (A-law) table indexed by the 14- or 13-bit level; every table is computed at
//! compile time from the G.711 segment formulas below. Frame helpers work into caller buffers
//! and never allocate. This module does no I/O and keeps no state.

use thiserror::Error;

/// The two G.711 companding laws (ITU-T G.711 §2 and §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Law {
    /// μ-law (North America, Japan; ITU-T G.711 Table 2a/2b). RTP payload type 0 (PCMU).
    Mulaw,
    /// A-law (Europe, China and most of the world; ITU-T G.711 Table 1a/1b). RTP payload
    /// type 8 (PCMA).
    Alaw,
}

/// Why a frame could not be converted.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum G711Error {
    /// The caller's output buffer is not the same length as the input (caller's fault).
    #[error("G.711 frame length mismatch: {input} input samples, {output} output slots")]
    LengthMismatch {
        /// Length of the input slice.
        input: usize,
        /// Length of the output slice.
        output: usize,
    },
}

/// μ-law bias added to the 14-bit magnitude before the segment search (G.711 Table 2a: the
/// decision values are offset by 33 so segment boundaries fall on powers of two).
const MULAW_BIAS: i32 = 33;
/// Largest 14-bit magnitude μ-law can represent before clipping (G.711: T_max = 8159).
const MULAW_CLIP: i32 = 8159;

/// Decoded 16-bit value of every μ-law code, built at compile time from the G.711 formula.
const MULAW_DECODE: [i16; 256] = build_mulaw_table();
/// Decoded 16-bit value of every A-law code, built at compile time from the G.711 formula.
const ALAW_DECODE: [i16; 256] = build_alaw_table();

const fn mulaw_decode_formula(code: u8) -> i16 {
    // Codes are transmitted with all bits inverted (G.711 §3.2, note on bit inversion).
    let u = !code;
    let mantissa = (u & 0x0F) as i32;
    let segment = ((u >> 4) & 0x07) as i32;
    // Midpoint of the interval in 14-bit units, biased, then scaled by 4 to 16 bits:
    // ((2m + 33) << seg) - 33, times 4.
    let magnitude = (((2 * mantissa + MULAW_BIAS) << segment) - MULAW_BIAS) * 4;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

const fn alaw_decode_formula(code: u8) -> i16 {
    // Even bits are inverted on the line (G.711 §2.2: alternate digit inversion, mask 0x55).
    let a = code ^ 0x55;
    let mantissa = (a & 0x0F) as i32;
    let segment = ((a >> 4) & 0x07) as i32;
    // Midpoint in 13-bit units: segment 0 is linear with step 2; higher segments double.
    let magnitude13 = if segment == 0 {
        2 * mantissa + 1
    } else {
        (2 * mantissa + 33) << (segment - 1)
    };
    let magnitude = magnitude13 * 8;
    // Bit 8 set (after inversion) means positive in A-law.
    if a & 0x80 != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

const fn build_mulaw_table() -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = mulaw_decode_formula(i as u8);
        i += 1;
    }
    t
}

const fn build_alaw_table() -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = alaw_decode_formula(i as u8);
        i += 1;
    }
    t
}

/// Index of the highest set bit of a non-zero value (0 for 1, 1 for 2..=3, ...).
#[inline]
const fn top_bit(v: u32) -> u32 {
    31 - (v | 1).leading_zeros()
}

/// Lowest 14-bit level μ-law encoding sees: `(i16::MIN + 2) >> 2`.
const MULAW_LEVEL_MIN: i32 = -8192;
/// Lowest 13-bit level A-law encoding sees: `(i16::MIN + 4) >> 3`.
const ALAW_LEVEL_MIN: i32 = -4096;

/// μ-law code of every 14-bit level `(sample + 2) >> 2` (−8192..=8192), computed at compile
/// time from [`mulaw_encode_level`]: 16 KiB, one load per sample instead of a segment search.
static MULAW_ENCODE: [u8; 16385] = build_mulaw_encode_table();
/// A-law code of every 13-bit level `(sample + 4) >> 3` (−4096..=4096), computed at compile
/// time from [`alaw_encode_level`]: 8 KiB.
static ALAW_ENCODE: [u8; 8193] = build_alaw_encode_table();

const fn build_mulaw_encode_table() -> [u8; 16385] {
    let mut t = [0u8; 16385];
    let mut i = 0;
    while i < t.len() {
        t[i] = mulaw_encode_level(i as i32 + MULAW_LEVEL_MIN);
        i += 1;
    }
    t
}

const fn build_alaw_encode_table() -> [u8; 8193] {
    let mut t = [0u8; 8193];
    let mut i = 0;
    while i < t.len() {
        t[i] = alaw_encode_level(i as i32 + ALAW_LEVEL_MIN);
        i += 1;
    }
    t
}

/// Encodes one 16-bit linear sample as a μ-law code (one table load).
#[inline]
pub fn mulaw_encode(sample: i16) -> u8 {
    let v = (i32::from(sample) + 2) >> 2; // to 14 bits, nearest (as sox)
    // In bounds for every i16: v is in -8192..=8192, so the index is in 0..=16384.
    MULAW_ENCODE[(v - MULAW_LEVEL_MIN) as usize]
}

/// The G.711 μ-law segment search for one 14-bit level `v` (the table's source).
const fn mulaw_encode_level(v: i32) -> u8 {
    let (mask, magnitude) = if v < 0 { (0x7F, -v) } else { (0xFF, v) };
    let clipped = if magnitude > MULAW_CLIP {
        MULAW_CLIP
    } else {
        magnitude
    };
    let biased = clipped + MULAW_BIAS; // 33..=8192 (8192: 32767 rounded up)
    // Biased values 32..=63 are segment 0, 64..=127 segment 1, ... 4096..=8191 segment 7.
    let segment = top_bit(biased as u32).saturating_sub(5);
    let code = if segment > 7 {
        0x7F
    } else {
        ((segment << 4) | ((biased as u32 >> (segment + 1)) & 0x0F)) as u8
    };
    code ^ mask
}

/// Decodes one μ-law code to a 16-bit linear sample.
#[inline]
pub fn mulaw_decode(code: u8) -> i16 {
    MULAW_DECODE[usize::from(code)]
}

/// Encodes one 16-bit linear sample as an A-law code (one table load).
#[inline]
pub fn alaw_encode(sample: i16) -> u8 {
    let v = (i32::from(sample) + 4) >> 3; // to 13 bits, nearest (as sox)
    // In bounds for every i16: v is in -4096..=4096, so the index is in 0..=8192.
    ALAW_ENCODE[(v - ALAW_LEVEL_MIN) as usize]
}

/// The G.711 A-law segment search for one 13-bit level `v` (the table's source).
const fn alaw_encode_level(v: i32) -> u8 {
    // Negative values are coded by the magnitude of (-v - 1), so -1 and 0 share a level.
    let (mask, magnitude) = if v >= 0 { (0xD5, v) } else { (0x55, -v - 1) };
    // Magnitudes 0..=31 are segment 0 (step 2), 32..=63 segment 1 (step 2), then doubling.
    let segment = top_bit(magnitude as u32).saturating_sub(4);
    let code = if segment > 7 {
        0x7F
    } else if segment < 2 {
        ((segment << 4) | ((magnitude as u32 >> 1) & 0x0F)) as u8
    } else {
        ((segment << 4) | ((magnitude as u32 >> segment) & 0x0F)) as u8
    };
    code ^ mask
}

/// Decodes one A-law code to a 16-bit linear sample.
#[inline]
pub fn alaw_decode(code: u8) -> i16 {
    ALAW_DECODE[usize::from(code)]
}

impl Law {
    /// Encodes one 16-bit linear sample.
    #[inline]
    pub fn encode(self, sample: i16) -> u8 {
        match self {
            Law::Mulaw => mulaw_encode(sample),
            Law::Alaw => alaw_encode(sample),
        }
    }

    /// Decodes one code to a 16-bit linear sample.
    #[inline]
    pub fn decode(self, code: u8) -> i16 {
        match self {
            Law::Mulaw => mulaw_decode(code),
            Law::Alaw => alaw_decode(code),
        }
    }

    /// The code for digital silence (the code that decodes nearest to zero on the positive
    /// side): `0xFF` for μ-law, `0xD5` for A-law.
    pub fn silence(self) -> u8 {
        match self {
            Law::Mulaw => 0xFF,
            Law::Alaw => 0xD5,
        }
    }

    /// Decodes a frame of codes into the caller's buffer (same length), without allocating.
    pub fn decode_frame(self, codes: &[u8], out: &mut [i16]) -> Result<(), G711Error> {
        check_lengths(codes.len(), out.len())?;
        let table = match self {
            Law::Mulaw => &MULAW_DECODE,
            Law::Alaw => &ALAW_DECODE,
        };
        for (o, &c) in out.iter_mut().zip(codes) {
            *o = table[usize::from(c)];
        }
        Ok(())
    }

    /// Encodes a frame of linear samples into the caller's buffer (same length), without
    /// allocating.
    pub fn encode_frame(self, samples: &[i16], out: &mut [u8]) -> Result<(), G711Error> {
        check_lengths(samples.len(), out.len())?;
        match self {
            Law::Mulaw => {
                for (o, &s) in out.iter_mut().zip(samples) {
                    *o = mulaw_encode(s);
                }
            }
            Law::Alaw => {
                for (o, &s) in out.iter_mut().zip(samples) {
                    *o = alaw_encode(s);
                }
            }
        }
        Ok(())
    }

    /// Encodes then decodes every sample in place: what audio sounds like after one pass
    /// through this law.
    pub fn compand_in_place(self, samples: &mut [i16]) {
        for s in samples {
            *s = self.decode(self.encode(*s));
        }
    }
}

fn check_lengths(input: usize, output: usize) -> Result<(), G711Error> {
    if input == output {
        Ok(())
    } else {
        Err(G711Error::LengthMismatch { input, output })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_codes_decode_to_smallest_positive_level() {
        assert_eq!(mulaw_decode(Law::Mulaw.silence()), 0);
        assert_eq!(alaw_decode(Law::Alaw.silence()), 8);
    }

    #[test]
    fn encode_tables_match_the_segment_search_for_every_sample() {
        for s in i16::MIN..=i16::MAX {
            let mu = (i32::from(s) + 2) >> 2;
            let a = (i32::from(s) + 4) >> 3;
            assert_eq!(mulaw_encode(s), mulaw_encode_level(mu), "μ-law {s}");
            assert_eq!(alaw_encode(s), alaw_encode_level(a), "A-law {s}");
        }
    }

    #[test]
    fn frame_with_wrong_output_length_is_refused() {
        let mut out = [0i16; 3];
        assert_eq!(
            Law::Mulaw.decode_frame(&[0u8; 4], &mut out),
            Err(G711Error::LengthMismatch {
                input: 4,
                output: 3
            })
        );
    }
}
