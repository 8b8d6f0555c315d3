#!/usr/bin/env bash
# ONNX Runtime against libtorch on a config's whole test set (issue 24): exports CONFIG + CHECKPOINT with
# `detsharp export onnx` into a temporary folder, runs `detsharp test --eval ... --out` through libtorch and through
# ONNX Runtime, and prints both backends' metrics and, from `DetSharp.Bench compare-results`, per image whether the kept
# sets are the same (boxes within 1e-2 px, scores within 1e-4) with the largest box and score differences and the
# smallest mask IoU of matched detections. Exit status 0 when the results agree (also mask IoU >= 0.99), else 1.
# The model is exported with --dynamic (each image padded only to the pad divisor, as libtorch pads it); --shape H W
# exports a fixed input size instead (the ONNX path pads each image to it, libtorch to the pad divisor: detections near
# the bottom and right edges of a smaller image can differ, see README "Deploy").
# Usage: bash bench/onnx_parity.sh CONFIG CHECKPOINT [--shape H W] [--eval "bbox segm"] [--cfg-options k=v ...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
(($# >= 2)) || { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
config="$1"; checkpoint="$2"; shift 2
shape=(--dynamic); metrics=(bbox segm); rest=()
while (($#)); do
  case "$1" in
    --shape) shape=(--shape "$2" "$3"); shift 3 ;;
    --eval) read -r -a metrics <<< "$2"; shift 2 ;;
    *) rest+=("$1"); shift ;;
  esac
done
tmp="$(mktemp -d "${TMPDIR:-/tmp}/detsharp-onnx-parity.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

"$root/detsharp" export onnx "$config" "$checkpoint" -o "$tmp/model.onnx" "${shape[@]}" "${rest[@]}"
"$root/detsharp" test "$config" "$checkpoint" --eval "${metrics[@]}" --out "$tmp/libtorch.json" "${rest[@]}" | tee "$tmp/libtorch.log"
"$root/detsharp" test "$config" "$tmp/model.onnx" --backend onnxruntime --eval "${metrics[@]}" --out "$tmp/onnxruntime.json" "${rest[@]}" \
  | tee "$tmp/onnxruntime.log"

echo
for backend in libtorch onnxruntime; do
  for m in "${metrics[@]}"; do
    line="$(grep -o "'${m}_mAP_copypaste', '[0-9. ]*'" "$tmp/$backend.log" | tail -1 | cut -d"'" -f4)"
    echo "$backend $m mAP (mAP 50 75 s m l): ${line:-none}"
  done
done
echo
dotnet run --project "$root/bench/DetSharp.Bench" -c Release -- compare-results "$tmp/libtorch.json" "$tmp/onnxruntime.json"
