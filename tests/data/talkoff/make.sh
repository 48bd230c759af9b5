#!/usr/bin/env bash
# Rebuilds the DTMF talk-off corpus: speech (espeak-ng, Mandarin and English, several pitches
# and speeds), synthetic hold music, singing-like vibrato, sweeps, chords and tone pairs that
# are not DTMF pairs. Everything is synthesised here, so nothing is copyrighted.
# Output: *.ulaw, raw G.711 mu-law, 8 kHz mono (tests/talkoff.rs decodes them).
# Needs espeak-ng, sox and python3; CI does not run this, the outputs are committed.
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.ulaw
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# to_ulaw IN OUT GAIN_DB [sox effects...]: resample to 8 kHz mono, normalise the peak to
# GAIN_DB dBFS, write raw mu-law.
to_ulaw() {
  local in=$1 out=$2 gain=$3
  shift 3
  sox -D "$in" -r 8000 -c 1 -t raw -e mu-law -b 8 "$out" "$@" norm "$gain"
}
# Speech is cut to SPEECH_SECONDS per voice (the committed corpus stays small); run with
# SPEECH_SECONDS=10000 for the full texts.
SPEECH_SECONDS=${SPEECH_SECONDS:-42}
n_voice=0

# --- speech -----------------------------------------------------------------------------
# voice, variant, pitch (0-99), speed (words/min), text file, peak level (dBFS)
speak() {
  local voice=$1 variant=$2 pitch=$3 speed=$4 text=$5 level=$6
  local name="speech_${voice}_${variant:-base}_p${pitch}_s${speed}"
  local v=$voice
  [ -n "$variant" ] && v="$voice+$variant"
  espeak-ng -v "$v" -p "$pitch" -s "$speed" -f "$text" -w "$tmp/$name.wav"
  # Start each voice at a different sentence so the committed windows cover all the texts.
  local start=$(( (n_voice * 23) % 60 ))
  n_voice=$((n_voice + 1))
  to_ulaw "$tmp/$name.wav" "$name.ulaw" "$level" trim "$start" "$SPEECH_SECONDS"
}
speak en-us ""       50 160 texts_en.txt     -1
speak en-us f3       80 140 texts_en.txt     -3
speak en-gb m3       20 200 texts_en.txt     -6
speak en-us klatt4   95 120 texts_en.txt     -1
speak cmn   ""       50 150 texts_zh.txt     -1
speak cmn   f2       85 130 texts_zh.txt     -3
speak cmn   m7       10 190 texts_zh.txt     -8
speak cmn   f5       99 110 texts_zh.txt     -1
speak cmn-latn-pinyin ""  60 150 texts_pinyin.txt -2
speak cmn-latn-pinyin f4  90 120 texts_pinyin.txt -1

# --- music and tones (sox synth) --------------------------------------------------------
s() { sox -D -n -r 8000 -c 1 "$tmp/x.wav" "$@"; }

# Hold music: chord progressions (I-V-vi-IV and ii-V-I in several keys), plucked and pads.
chords=""
for key in 0 2 5 7 9 11 -3 -5; do
  for ch in "0 4 7" "7 11 14" "9 12 16" "5 9 12" "2 5 9" "7 11 14 17" "0 4 7 11"; do
    set -- $ch
    args=()
    for n in "$@"; do args+=(pluck "%$((n + key - 9))"); done
    sox -D -n -r 8000 -c 1 "$tmp/c_${key}_${1}_$#.wav" synth 0.6 "${args[@]}" remix - fade 0 0.6 0.05 gain -n -3
    chords="$chords $tmp/c_${key}_${1}_$#.wav"
  done
done
sox $chords "$tmp/chords_pluck.wav"
to_ulaw "$tmp/chords_pluck.wav" music_chords_pluck.ulaw -2

# The same progressions as sustained triangle, sawtooth and square pads, one octave up.
for wave in triangle sawtooth square sine; do
  files=""
  for key in 0 3 5 8 10 -2 -4; do
    for ch in "0 4 7" "5 9 12" "7 11 14" "-3 0 4" "2 5 9" "4 7 11"; do
      set -- $ch
      args=()
      for n in "$@"; do args+=("$wave" "%$((n + key + 3))"); done
      sox -D -n -r 8000 -c 1 "$tmp/p_${wave}_${key}_$1.wav" synth 0.5 "${args[@]}" remix - fade 0.02 0.5 0.05 gain -n -3
      files="$files $tmp/p_${wave}_${key}_$1.wav"
    done
  done
  sox $files "$tmp/pads_$wave.wav"
  to_ulaw "$tmp/pads_$wave.wav" "music_pads_$wave.ulaw" -3
done

# Melodies: scales and arpeggios over three octaves, sine and plucked, with a bass note.
files=""
i=0
for n in $(seq -21 1 24) $(seq 24 -3 -21) $(seq -12 4 28) $(seq -9 7 26); do
  sox -D -n -r 8000 -c 1 "$tmp/m_$i.wav" synth 0.18 pluck "%$n" sine "%$(( (n % 12) - 24 ))" remix - fade 0 0.18 0.03 gain -n -3
  files="$files $tmp/m_$i.wav"
  i=$((i + 1))
done
sox $files "$tmp/melody.wav"
to_ulaw "$tmp/melody.wav" music_melody.ulaw -2

# --- tones and sweeps ---------------------------------------------------------------------
# Singing-like tones: harmonic voices (12 partials, falling 6 dB/octave) and whistles (pure
# sines) with 5-6 Hz vibrato of +-1..3 %, gliding between notes, at many pitches.
python3 - "$tmp/vibrato.raw" <<'PY'
import math, struct, sys
rate, out = 8000, []
for i, f0 in enumerate([110, 147, 196, 220, 262, 294, 330, 349, 392, 440, 523, 587, 659, 698, 784, 880, 988, 1175, 1319]):
    for whistle in (False, True):
        depth = 0.01 + 0.01 * (i % 3)
        rate_hz = 5.0 + 0.25 * (i % 5)
        phase = [0.0] * 13
        n = int(1.0 * rate)
        for t in range(n):
            glide = 1.0 + 0.06 * min(t / 1600.0, 1.0)
            f = f0 * glide * (1 + depth * math.sin(2 * math.pi * rate_hz * t / rate))
            env = min(1.0, t / 400.0, (n - t) / 400.0)
            v = 0.0
            partials = [1] if whistle else range(1, 13)
            for k in partials:
                if k * f >= 3800:
                    break
                phase[k] += 2 * math.pi * k * f / rate
                v += math.sin(phase[k]) / k
            out.append(int(max(-32768, min(32767, 9000 * env * v))))
with open(sys.argv[1], "wb") as f:
    f.write(b"".join(struct.pack("<h", v) for v in out))
PY
sox -D -t raw -r 8000 -e signed-integer -b 16 -c 1 -L "$tmp/vibrato.raw" "$tmp/vibrato.wav"
to_ulaw "$tmp/vibrato.wav" tones_vibrato.ulaw -2

# Sweeps: slow single tones, fast crossing pairs, and a slow pair with one tone in the low
# group and the other above the high group.
s synth 6 sine 300-3400 gain -n -3;                          cp "$tmp/x.wav" "$tmp/sw1.wav"
s synth 1 sine 300-3400 sine 3400-300 remix - repeat 2 gain -n -3; cp "$tmp/x.wav" "$tmp/sw2.wav"
s synth 6 sine 650-1000 sine 1700-2400 remix - gain -n -3;    cp "$tmp/x.wav" "$tmp/sw3.wav"
s synth 6 square 200-1000 gain -n -6;                         cp "$tmp/x.wav" "$tmp/sw4.wav"
s synth 6 sawtooth 90-400 gain -n -6;                         cp "$tmp/x.wav" "$tmp/sw5.wav"
sox "$tmp/sw1.wav" "$tmp/sw2.wav" "$tmp/sw3.wav" "$tmp/sw4.wav" "$tmp/sw5.wav" "$tmp/sweeps.wav"
to_ulaw "$tmp/sweeps.wav" tones_sweeps.ulaw -2

# Tone pairs that are not DTMF: call-progress tones and near misses (one tone 5-8 % off, or
# both tones from one group, or a DTMF tone with a non-DTMF partner).
files=""
for pair in "350 440" "480 620" "440 480" "697 1000" "770 1100" "852 1000" "941 1100" \
            "600 1209" "1000 1336" "1100 1477" "697 770" "852 941" "1209 1477" "1336 1633" \
            "740 1209" "697 1290" "990 1477" "800 1560" "425 425" "400 450" "1400 2100"; do
  set -- $pair
  sox -D -n -r 8000 -c 1 "$tmp/t_$1_$2.wav" synth 0.6 sine "$1" sine "$2" remix - gain -n -6 pad 0 0.2
  files="$files $tmp/t_$1_$2.wav"
done
sox $files "$tmp/pairs.wav"
to_ulaw "$tmp/pairs.wav" tones_pairs.ulaw -2

ls -l ./*.ulaw
du -ch ./*.ulaw | tail -1
