#!/usr/bin/env bash
# Turns the prompt catalogue (audio-prompts/prompts.yaml: prompt id -> language -> text) into
# audio-prompts/<language>/<id>.wav with espeak-ng and sox, and synthesises the music on hold.
#
#   audio-prompts/synthesize.sh                 # make what is missing or whose text changed
#   audio-prompts/synthesize.sh --only a,b      # remake these ids (also over recordings)
#   audio-prompts/synthesize.sh --lang en-US    # one language only
#   audio-prompts/synthesize.sh --force         # remake every synthesised file
#   audio-prompts/synthesize.sh --dry-run       # say what would be made
#
# Rules:
# - Speech: espeak-ng (zh-CN: voice cmn at 185 wpm, en-US: en-us at 150 wpm, other tags: the tag
#   in lower case; SPEED and SPEED_CMN override the rates), then
#   sox: 16 kHz 16-bit mono, leading and trailing silence trimmed, normalised to -3 dBFS peak,
#   10 ms fade in and 20 ms fade out.
# - Music: an entry whose text is exactly "(music)" (hold_music) is not spoken. A gentle
#   synthesised chord loop (no recorded or copyrighted material) is written once to
#   audio-prompts/shared/<id>.wav, which the engine serves for every language without a file of
#   its own. Remake it with --only hold_music.
# - Studio recordings win: a WAV that this script did not make (it is not in synthesized.tsv) is
#   never overwritten, unless named with --only. To go back to synthesis, delete the file.
#   synthesized.tsv records, per file, a hash of the voice settings and text it was made from.
# - Reading the YAML: with python3 and PyYAML when present, else `ivr prompts export-text`
#   (set IVR=path/to/ivr to use a built binary; default `cargo run --quiet --`).
#
# Then run `ivr prompts check` to list missing, extra, clipped, silent or too short files.
# Needs: espeak-ng, sox (Debian packages of the same names).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
CATALOGUE="${CATALOGUE:-$HERE/prompts.yaml}"
MANIFEST="$HERE/synthesized.tsv"
SPEED="${SPEED:-150}"          # espeak-ng words per minute: a little slower than its default
SPEED_CMN="${SPEED_CMN:-185}"  # the Mandarin voice is slow at 150 (about 2.5 syllables a second)
RATE=16000
ONLY=""
ONLY_LANG=""
FORCE=0
DRY=0

while [ $# -gt 0 ]; do
    case "$1" in
        --only) ONLY=",$2,"; shift 2 ;;
        --lang) ONLY_LANG="$2"; shift 2 ;;
        --force) FORCE=1; shift ;;
        --dry-run) DRY=1; shift ;;
        --catalogue) CATALOGUE="$2"; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    esac
done

for tool in espeak-ng sox; do
    command -v "$tool" >/dev/null || { echo "synthesize.sh needs $tool (apt-get install $tool)" >&2; exit 1; }
done
[ -f "$CATALOGUE" ] || { echo "no catalogue at $CATALOGUE" >&2; exit 1; }

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# Prints "id<TAB>language<TAB>text" for every catalogue entry.
export_text() {
    if python3 -c 'import yaml' 2>/dev/null; then
        python3 - "$CATALOGUE" <<'PY'
import sys, yaml
with open(sys.argv[1], encoding="utf-8") as f:
    data = yaml.safe_load(f) or {}
for pid in sorted(data, key=str):
    langs = data[pid]
    if not isinstance(langs, dict):
        continue
    for lang in sorted(langs, key=str):
        text = " ".join(str(langs[lang]).split())
        print(f"{pid}\t{lang}\t{text}")
PY
    else
        ${IVR:-cargo run --quiet --} prompts export-text --catalogue "$CATALOGUE"
    fi
}

speed_for() {
    if [ "$(voice_for "$1")" = cmn ]; then echo "$SPEED_CMN"; else echo "$SPEED"; fi
}

voice_for() {
    case "$1" in
        zh-CN) echo cmn ;;
        en-US) echo en-us ;;
        *) echo "$1" | tr '[:upper:]' '[:lower:]' ;;
    esac
}

# The hash recorded for a file: what it was made from.
settings_hash() {
    printf '%s\t%s\t%s\t%s\t%s' "$1" "$(voice_for "$1")" "$(speed_for "$1")" "$RATE" "$2" \
        | sha1sum | cut -c1-16
}

manifest_hash() { # lang id
    [ -f "$MANIFEST" ] || return 0
    awk -F'\t' -v l="$1" -v i="$2" '$1 == l && $2 == i { print $3 }' "$MANIFEST"
}

record() { # lang id hash
    local rest=""
    [ -f "$MANIFEST" ] && rest="$(awk -F'\t' -v l="$1" -v i="$2" '!($1 == l && $2 == i)' "$MANIFEST")"
    { [ -n "$rest" ] && printf '%s\n' "$rest"; printf '%s\t%s\t%s\n' "$1" "$2" "$3"; } \
        | LC_ALL=C sort > "$MANIFEST.new"
    mv "$MANIFEST.new" "$MANIFEST"
}

# Decides whether <lang>/<id> must be (re)made: prints a reason, or nothing.
why_make() { # lang id hash file
    local old
    if [ -n "$ONLY" ]; then
        case "$ONLY" in *",$2,"*) echo "asked for"; return ;; *) return ;; esac
    fi
    old="$(manifest_hash "$1" "$2")"
    if [ ! -f "$4" ]; then echo "missing"; return; fi
    if [ -z "$old" ]; then return; fi          # a recording: keep it
    if [ "$FORCE" = 1 ]; then echo "forced"; return; fi
    if [ "$old" != "$3" ]; then echo "text or voice changed"; fi
}

speak() { # lang text out
    printf '%s' "$2" | espeak-ng -v "$(voice_for "$1")" -s "$(speed_for "$1")" --stdin -w "$TMP/raw.wav"
    sox "$TMP/raw.wav" -r "$RATE" -b 16 -c 1 "$TMP/trim.wav" gain -6 \
        silence 1 0.005 0.1% reverse silence 1 0.005 0.1% reverse
    sox "$TMP/trim.wav" "$3" norm -3 fade q 0.01 0 0.02
}

# Music on hold: I-vi-IV-V in C, twice (8 chords of 4 s = 32 s). Each chord is a soft sine pad
# with a plucked arpeggio over it; every chord fades in and out, so the end meets the start
# without a click when the engine loops the file.
make_music() { # out
    local chords=("C3 G3 E4 G4" "A2 E3 C4 E4" "F2 C3 A3 C4" "G2 D3 B3 D4")
    local arps=("C5 E5 G5 E5 C5 G4 E5 G5" "A4 C5 E5 C5 A4 E4 C5 E5"
                "F4 A4 C5 A4 F4 C4 A4 C5" "G4 B4 D5 B4 G4 D4 B4 D5")
    local parts=() i c n notes
    for i in 0 1 2 3 4 5 6 7; do
        c=$((i % 4))
        read -r -a notes <<< "${chords[$c]}"
        local voices=()
        n=0
        for note in "${notes[@]}"; do
            sox -n -r "$RATE" -b 16 -c 1 "$TMP/v$n.wav" synth 4 sine "$note"
            voices+=("$TMP/v$n.wav")
            n=$((n + 1))
        done
        sox -m "${voices[@]}" "$TMP/pad.wav" fade h 0.6 4 0.8 vol 0.5
        local arp=()
        n=0
        for note in ${arps[$c]}; do
            sox -n -r "$RATE" -b 16 -c 1 "$TMP/n$n.wav" synth 0.5 pluck "$note" \
                fade q 0.005 0.5 0.35 vol 0.35
            arp+=("$TMP/n$n.wav")
            n=$((n + 1))
        done
        sox "${arp[@]}" "$TMP/arp.wav"
        sox -m "$TMP/pad.wav" "$TMP/arp.wav" "$TMP/chord$i.wav" fade h 0.05 4 0.3
        parts+=("$TMP/chord$i.wav")
    done
    sox "${parts[@]}" "$TMP/music.wav" lowpass 3000
    sox "$TMP/music.wav" "$1" norm -6
}

made=0
kept=0
export_text > "$TMP/entries.tsv"
while IFS=$'\t' read -r id lang text; do
    [ -n "$id" ] || continue
    if [ -n "$ONLY_LANG" ] && [ "$lang" != "$ONLY_LANG" ]; then continue; fi
    if [ "$text" = "(music)" ]; then
        file="$HERE/shared/$id.wav"
        lang_key="shared"
        hash="$(settings_hash shared "music:$id")"
    else
        file="$HERE/$lang/$id.wav"
        lang_key="$lang"
        hash="$(settings_hash "$lang" "$text")"
    fi
    reason="$(why_make "$lang_key" "$id" "$hash" "$file")"
    if [ -z "$reason" ]; then kept=$((kept + 1)); continue; fi
    if [ "$lang_key" = shared ] && [ -f "$TMP/done-$id" ]; then continue; fi
    echo "$lang_key/$id.wav ($reason)"
    [ "$DRY" = 1 ] && continue
    mkdir -p "$(dirname "$file")"
    if [ "$lang_key" = shared ]; then
        make_music "$file"
        touch "$TMP/done-$id"
    else
        speak "$lang" "$text" "$file"
    fi
    record "$lang_key" "$id" "$hash"
    made=$((made + 1))
done < "$TMP/entries.tsv"

echo "made $made file(s), kept $kept; now run: ivr prompts check"
