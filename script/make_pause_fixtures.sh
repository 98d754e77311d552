#!/usr/bin/env bash
# Regenerate the pause fixtures in truebar_sim/fixtures/pauses from pauses.json: each command is
# spoken in two parts with a pause of pause_ms between them ("set a timer for ... five
# minutes"), or followed by background noise instead of silence (kind "noise"), or whole with
# no pause (kind "late_words"), or as one sentence with an SSML break (join "ssml").
# Needs Debian's espeak-ng and sox (apt-get install espeak-ng sox) and python3.
#   bash script/make_pause_fixtures.sh [FILE.wav ...]   only those
# A fixture's "voice" overrides the language's espeak-ng voice (see script/make_fixtures.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir="$here/truebar_sim/fixtures/pauses"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$dir/pauses.json" > "$tmp/list" <<'PY'
import json, sys
for item in json.load(open(sys.argv[1]))["fixtures"]:
    print("\t".join([item["file"], item["language"], item["kind"], item["before"],
                     item["after"] or "-", str(item["pause_ms"]),
                     item.get("voice") or ("en-us" if item["language"] == "en" else item["language"]),
                     item.get("join") or "parts"]))
PY
speak() {  # speak LANGUAGE TEXT OUT: 16 kHz mono s16le
  espeak-ng -v "$1" -s 140 -w "$tmp/raw.wav" "$2"
  sox "$tmp/raw.wav" -r 16000 -c 1 -b 16 -e signed-integer "$3"
}
while IFS=$'\t' read -r file language kind before after pause_ms voice join; do
  if [ $# -gt 0 ] && [[ " $* " != *" $file "* ]]; then continue; fi
  if [ "$join" = ssml ]; then
    # One sentence with a continuing intonation and an SSML break where the pause is (the
    # break is silence: nothing to trim).
    espeak-ng -v "$voice" -s 140 -m -w "$tmp/raw.wav" \
      "<speak>$before <break time=\"${pause_ms}ms\"/> $after</speak>"
    sox "$tmp/raw.wav" -r 16000 -c 1 -b 16 -e signed-integer "$tmp/joined.wav"
    sox "$tmp/joined.wav" "$dir/$file" pad 0.3 0.5
    echo "made $file"
    continue
  fi
  speak "$voice" "$before" "$tmp/a.wav"
  if [ "$kind" = late_words ]; then
    # Spoken whole, as make_fixtures.sh does: 0.3 s of silence before, 0.5 s after.
    sox "$tmp/a.wav" "$dir/$file" pad 0.3 0.5
  elif [ "$kind" = noise ]; then
    # 1.5 s of quiet brown noise (a fan, a fridge) where silence would be: about -45 dBFS.
    sox -n -r 16000 -c 1 -b 16 -e signed-integer "$tmp/noise.wav" synth 1.5 brownnoise vol 0.02
    sox "$tmp/a.wav" "$tmp/noise.wav" "$tmp/joined.wav"
    sox "$tmp/joined.wav" "$dir/$file" pad 0.3 0
  else
    speak "$voice" "$after" "$tmp/b.wav"
    sox -n -r 16000 -c 1 -b 16 -e signed-integer "$tmp/gap.wav" trim 0 "0.$(printf %03d "$pause_ms")"
    # espeak-ng ends each part with its own short silence: trim it, so the pause is pause_ms.
    sox "$tmp/a.wav" "$tmp/a_trim.wav" reverse silence 1 0.01 0.1% reverse
    sox "$tmp/b.wav" "$tmp/b_trim.wav" silence 1 0.01 0.1%
    sox "$tmp/a_trim.wav" "$tmp/gap.wav" "$tmp/b_trim.wav" "$tmp/joined.wav"
    sox "$tmp/joined.wav" "$dir/$file" pad 0.3 0.5
  fi
  echo "made $file"
done < "$tmp/list"
