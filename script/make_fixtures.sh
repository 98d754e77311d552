#!/usr/bin/env bash
# Regenerate the spoken fixtures in truebar_sim/fixtures from fixtures.json.
# Needs Debian's espeak-ng and sox (apt-get install espeak-ng sox) and python3.
# The committed WAVs are what tests use; run this only to change the phrase list.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir="$here/truebar_sim/fixtures"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$dir/fixtures.json" > "$tmp/list" <<'PY'
import json, sys
for item in json.load(open(sys.argv[1]))["fixtures"]:
    print(item["file"] + "\t" + item["text"])
PY
while IFS=$'\t' read -r file text; do
  espeak-ng -v en-us -s 140 -w "$tmp/raw.wav" "$text"
  # 0.3 s of silence before, 0.5 s after: like a voice-assistant turn cut by VAD.
  sox "$tmp/raw.wav" -r 16000 -c 1 -b 16 -e signed-integer "$dir/$file" pad 0.3 0.5
  echo "made $file: $text"
done < "$tmp/list"
