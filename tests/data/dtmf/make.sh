#!/bin/sh
# Makes sox_44k1_stereo.wav, the fixture for tests/cli_dtmf.rs (CI has no sox; the file is
# committed). 100 ms of silence, then the keys 1 5 9 D * 0 # A (every row and every column
# of the keypad), each 60 ms of tone and 60 ms of silence, at 44.1 kHz, 16-bit, stereo.
# `synth` puts the first generator on the left channel and the second on the right, so the
# low-group tone is on the left and the high-group tone on the right: only mixing the two
# channels down gives a DTMF pair. 10 dB under sox's full scale, about -13 dBm0 per tone
# once mixed down.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rate=44100
sox -n -r $rate -c 2 -b 16 "$tmp/00.wav" trim 0 0.1
n=1
for pair in "697 1209" "770 1336" "852 1477" "941 1633" "941 1209" "941 1336" "941 1477" "697 1633"; do
    set -- $pair
    sox -n -r $rate -c 2 -b 16 "$tmp/$(printf %02d $n).wav" synth 0.06 sine "$1" sine "$2" gain -10 pad 0 0.06
    n=$((n + 1))
done
sox "$tmp"/*.wav sox_44k1_stereo.wav
soxi sox_44k1_stereo.wav
