#!/usr/bin/env bash
# Regenerates the G.711 reference files used by tests/g711.rs, with sox as the independent
# implementation. Run from this folder; needs python3 and sox (not needed in CI).
#   ramp_s16le.raw     is NOT committed: every i16 from -32768 to 32767, little-endian
#   ramp.ulaw / .alaw  sox's encoding of that ramp (one code byte per sample, 65536 bytes)
#   codes.u8           the bytes 0..=255 (not committed)
#   codes_ulaw.s16le   sox's decoding of every mu-law code (256 x i16 little-endian)
#   codes_alaw.s16le   the same for A-law
# -D turns off sox's dither, which it would otherwise add when reducing precision.
set -euo pipefail
cd "$(dirname "$0")"
python3 -c 'import struct,sys; sys.stdout.buffer.write(b"".join(struct.pack("<h", v) for v in range(-32768, 32768)))' > ramp_s16le.raw
python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)))' > codes.u8
raw16="-t raw -r 8000 -e signed-integer -b 16 -c 1 -L"
sox -D $raw16 ramp_s16le.raw -t raw -r 8000 -e mu-law -b 8 -c 1 ramp.ulaw
sox -D $raw16 ramp_s16le.raw -t raw -r 8000 -e a-law -b 8 -c 1 ramp.alaw
sox -D -t raw -r 8000 -e mu-law -b 8 -c 1 codes.u8 $raw16 codes_ulaw.s16le
sox -D -t raw -r 8000 -e a-law -b 8 -c 1 codes.u8 $raw16 codes_alaw.s16le
rm -f ramp_s16le.raw codes.u8
