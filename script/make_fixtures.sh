#!/usr/bin/env bash
# Regenerate the spoken fixtures in truebar_sim/fixtures from fixtures.json.
# Needs Debian's espeak-ng and sox (apt-get install espeak-ng sox) and python3.
# The committed WAVs are what tests use; run this only to change the phrase list.
#   bash script/make_fixtures.sh [FILE.wav ...]   only those (espeak-ng versions differ slightly)
# A fixture's "voice" (default en-us) is the espeak-ng voice: pocketsphinx, the simulator's
# recogniser, lost the last word of two commands in the default voice ("what time [is it]", "set
# a timer for five [minutes]"); en-us+f2 it recognises whole, so those two use it.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir="$here/truebar_sim/fixtures"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$dir/fixtures.json" > "$tmp/list" <<'PY'
import json, sys
for item in json.load(open(sys.argv[1]))["fixtures"]:
    print(item["file"] + "\t" + item["text"] + "\t" + item.get("voice", "en-us"))
PY
while IFS=$'\t' read -r file text voice; do
  if [ $# -gt 0 ] && [[ " $* " != *" $file "* ]]; then continue; fi
  espeak-ng -v "$voice" -s 140 -w "$tmp/raw.wav" "$text"
  # 0.3 s of silence before, 0.5 s after: like a voice-assistant turn cut by VAD.
  sox "$tmp/raw.wav" -r 16000 -c 1 -b 16 -e signed-integer "$dir/$file" pad 0.3 0.5
  echo "made $file: $text"
done < "$tmp/list"
