#!/usr/bin/env bash
# How many of MMDetection 2.28's model configs DetSharp builds: `detsharp print-model --summary` over every config of
# ../shared/mmdet-configs-2.28 except _base_/ and common/ (628 model configs). Prints one line per config and the total;
# `--refused` prints the refusal reasons counted, most frequent first. The state-dict layouts of the built models are
# checked against MMDetection's by tests/DetSharp.Tests/Models/ZooStateDictTests.cs.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
corpus="${DETSHARP_MMDET_CONFIGS:-$root/../shared/mmdet-configs-2.28}"
[[ -d "$corpus" ]] || { echo "zoo-coverage: $corpus not found (set DETSHARP_MMDET_CONFIGS)" >&2; exit 1; }
mapfile -t configs < <(find "$corpus" -name '*.py' -not -path '*/_base_/*' -not -path '*/common/*' | sort)
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
"$root/detsharp" print-model --summary "${configs[@]}" > "$out"
if [[ "${1:-}" == "--refused" ]]; then
  grep '^refused' "$out" | cut -f3 | sed -E "s/^[^:]*: //; s/ Did you mean.*//" | sort | uniq -c | sort -rn
fi
tail -1 "$out"
