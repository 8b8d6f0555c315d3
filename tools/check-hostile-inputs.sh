#!/usr/bin/env bash
# Issue 27: DetSharp against bad and hostile input, end to end through ./detsharp. Each case prints one line
#   PASS|FAIL  <issue item>  <case>: <what happened>
# and the script ends with "Hostile inputs: N passed, N failed" (exit 1 when any failed). Everything is made here — tiny
# images, annotations, a checkpoint from a one-iteration training run, crafted pickles (python3's standard library) —
# in a temporary folder that is removed afterwards. About 5 minutes on 2 cores; --no-demo skips the demo case (2 of them).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
with_demo=1
[[ "${1:-}" == "--no-demo" ]] && with_demo=0

tmp="$(mktemp -d "${TMPDIR:-/tmp}/detsharp-hostile.XXXXXX")"
cleanup() {
  [[ -n "${first_pid:-}" ]] && kill -9 "$first_pid" 2>/dev/null
  mountpoint -q "$tmp/w_full" 2>/dev/null && umount "$tmp/w_full"
  rm -rf "$tmp"
}
trap cleanup EXIT
ds() { "$root/detsharp" "$@"; }
ds --version >/dev/null || { echo "FAIL  -  build: ./detsharp does not build"; exit 1; }

passed=0 failed=0
out="$tmp/out.txt" err="$tmp/err.txt"
report() { # PASS|FAIL item case detail
  printf '%s  %-3s %s: %s\n' "$1" "$2" "$3" "$4"
  if [[ $1 == PASS ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}
first_line() { head -c 400 "$1" | head -n 1; }
# run ITEM CASE -- command...: runs it, keeping stdout/stderr and the exit code in $rc.
run() { "$@" >"$out" 2>"$err"; rc=$?; }
# refused ITEM CASE TEXT... -- command...: PASS when the command exits 1 with one error line holding every TEXT
# (no exception name, no stack trace, no native frames).
refused() {
  local item=$1 case=$2; shift 2
  local expect=()
  while [[ $1 != -- ]]; do expect+=("$1"); shift; done
  shift
  run "$@"
  local why=""
  [[ $rc -eq 1 ]] || why="exit $rc"
  for text in "${expect[@]}"; do grep -qF -- "$text" "$err" || why="${why:+$why, }no '$text'"; done
  grep -qE 'Exception|   at |frame #' "$err" && why="${why:+$why, }a stack trace or exception name"
  if [[ -z $why ]]; then report PASS "$item" "$case" "$(first_line "$err" | cut -c1-160)"
  else report FAIL "$item" "$case" "$why: $(first_line "$err" | cut -c1-200)"; fi
}
check() { # ITEM CASE CONDITION-TEXT: PASS when the last test ([[ ]]) succeeded
  if [[ $3 == ok ]]; then report PASS "$1" "$2" "$4"; else report FAIL "$1" "$2" "$4"; fi
}
sha() { sha256sum "$1" | cut -d' ' -f1; }

# ---------------------------------------------------------------- a tiny dataset: 4 noise images (PPM) with polygons
data="$tmp/data"
mkdir -p "$data/a" "$data/b"
for i in 0 1 2 3; do
  { printf 'P6\n64 48\n255\n'; head -c $((64 * 48 * 3)) /dev/urandom; } >"$data/img$i.ppm"
done
region='{"shape_attributes": {"name": "polygon", "all_points_x": [10, 40, 40, 10], "all_points_y": [8, 8, 30, 30]}, "region_attributes": {"shape": "square"}}'
via() { # records as "file regions" pairs
  local sep="" json="{"
  while [[ $# -gt 0 ]]; do json+="$sep\"$1\": {\"filename\": \"$1\", \"regions\": $2}"; sep=", "; shift 2; done
  echo "$json}"
}
via img0.ppm "[$region]" img1.ppm "[$region]" img2.ppm "[$region]" img3.ppm "[$region]" >"$data/via.json"
run ds convert via2coco "$data/via.json" -o "$data/coco.json" --category-attribute shape --classes ellipse triangle square
[[ $rc -eq 0 ]] || { echo "FAIL  -  setup: convert via2coco: $(first_line "$err")"; exit 1; }
config=configs/demo/mask_rcnn_r18_slim_fpn_demo.py
opts=(--cfg-options "data.train.ann_file=$data/coco.json" "data.train.img_prefix=$data/" "data.val.ann_file=$data/coco.json"
      "data.val.img_prefix=$data/" "data.test.ann_file=$data/coco.json" "data.test.img_prefix=$data/"
      "data.train.pipeline.2.img_scale=(64,48)" "data.test.pipeline.1.img_scale=(64,48)" "data.val.pipeline.1.img_scale=(64,48)"
      "data.workers_per_gpu=0" "log_config.interval=1")

# ---------------------------------------------------------------- 5, 6: configs
printf 'x = %s%s\n' "$(printf '[%.0s' $(seq 10000))" "$(printf ']%.0s' $(seq 10000))" >"$tmp/deep.py"
refused 5 "a .py config nested 10,000 deep" "deep.py:1:" "nests deeper than 100" -- ds print-config "$tmp/deep.py"
{ printf 'x = '; printf 'dict(a=%.0s' $(seq 10000); printf '1'; printf ')%.0s' $(seq 10000); echo; } >"$tmp/deep_dict.py"
refused 5 "dict(a=dict(...)) nested 10,000 deep" "deep_dict.py:1:" "nests deeper than 100" -- ds print-config "$tmp/deep_dict.py"
printf 'x: %s%s\n' "$(printf '[%.0s' $(seq 10000))" "$(printf ']%.0s' $(seq 10000))" >"$tmp/deep.yaml"
refused 5 "a YAML config nested 10,000 deep" "deep.yaml:1:" "nests deeper than 100" -- ds print-config "$tmp/deep.yaml"
# A regression would take the machine's memory: the child's GC heap is capped at 1 GiB.
export DOTNET_GCHeapHardLimit=0x40000000
printf "model = dict(type='MaskRCNN')\nx = [1] * 10000000000\n" >"$tmp/repeat.py"
refused 6 "x = [1] * 10000000000" "repeat.py:2:" "more than 10,000,000 values" -- ds print-config "$tmp/repeat.py"
{ echo "s = 'detsharp'"; for _ in $(seq 40); do echo "s = s + s"; done; } >"$tmp/doubling.py"
refused 6 "s = s + s, 40 times" "doubling.py:" "more than 10,000,000 values" -- ds print-config "$tmp/doubling.py"
{ echo "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"
  for i in $(seq 1 9); do printf 'a%d: &a%d [' "$i" "$i"; for j in $(seq 9); do printf '*a%d%s' $((i - 1)) "$([[ $j -lt 9 ]] && echo ', ')"; done; echo "]"; done; } >"$tmp/bomb.yaml"
refused 6 "a YAML alias bomb (9^10 strings)" "bomb.yaml:" "more than 10,000,000 values" -- ds print-config "$tmp/bomb.yaml"
unset DOTNET_GCHeapHardLimit
printf "import os\nos.system('touch %s/pwned_by_config')\n" "$tmp" >"$tmp/code.py"
refused - "a config that imports os" "code.py:1:1: imports are not supported" -- ds print-config "$tmp/code.py"
[[ ! -e "$tmp/pwned_by_config" ]] && check - "the config ran nothing" ok "no file created" || check - "the config ran nothing" no "it created a file"

# ---------------------------------------------------------------- 7, 10: checkpoints
python3 - "$tmp" <<'PY'
import io, struct, sys, zipfile
tmp = sys.argv[1]
def pickle(storage_numel, offset, size, stride):
    b = io.BytesIO(); w = b.write
    def long(v): w(b'\x8a\x08' + struct.pack('<q', v))
    def s(x): x = x.encode(); w(b'X' + struct.pack('<i', len(x)) + x)
    def glob(m, n): w(b'c' + f'{m}\n{n}\n'.encode())
    def tup(vs):
        w(b'(')
        for v in vs: long(v)
        w(b't')
    w(b'\x80\x02}'); s('w'); glob('torch._utils', '_rebuild_tensor_v2'); w(b'(')
    w(b'('); s('storage'); glob('torch', 'FloatStorage'); s('0'); s('cpu'); long(storage_numel); w(b'tQ')
    long(offset); tup(size); tup(stride); w(b'\x89'); glob('collections', 'OrderedDict'); w(b')R'); w(b'tRs.')
    return b.getvalue()
def archive(name, pkl, storage_bytes):
    with zipfile.ZipFile(f'{tmp}/{name}', 'w', zipfile.ZIP_STORED) as z:
        z.writestr('archive/data.pkl', pkl); z.writestr('archive/data/0', b'\0' * storage_bytes); z.writestr('archive/version', '3\n')
archive('zero_stride.pth', pickle(1, 0, [500_000_000], [0]), 4)        # 2 GB from one float
archive('offset.pth', pickle(4, 1_000_000, [2, 2], [2, 1]), 16)         # a view far past its storage
archive('numel.pth', pickle(500_000_000, 0, [1], [1]), 4)               # a storage that declares 2 GB
# A pickle that would run a shell command if it were unpickled by Python.
evil = b'\x80\x02}X\x01\x00\x00\x00wcposix\nsystem\n(X' + struct.pack('<i', len(f'touch {tmp}/pwned_by_pickle')) + f'touch {tmp}/pwned_by_pickle'.encode() + b'tRs.'
with zipfile.ZipFile(f'{tmp}/evil.pth', 'w', zipfile.ZIP_STORED) as z:
    z.writestr('archive/data.pkl', evil); z.writestr('archive/version', '3\n')
PY
for f in zero_stride offset numel; do
  refused 7 "crafted checkpoint ($f)" "$tmp/$f.pth" "crafted or corrupt" -- ds convert weights "$tmp/$f.pth" "$tmp/converted.pth"
done
refused - "a pickle calling os.system" "$tmp/evil.pth" "holds no tensors" -- ds convert weights "$tmp/evil.pth" "$tmp/converted.pth"
[[ ! -e "$tmp/pwned_by_pickle" ]] && check - "the pickle ran nothing" ok "no file created" || check - "the pickle ran nothing" no "it created a file"

# A real checkpoint: one epoch (2 iterations) of the slim model on the tiny dataset.
work="$tmp/work"
run ds train "$config" --work-dir "$work" --no-validate "${opts[@]}" runner.max_epochs=1
[[ $rc -eq 0 && -f "$work/epoch_1.pth" ]] || { echo "FAIL  -  setup: one-epoch training: $(tail -n 3 "$err")"; exit 1; }
ckpt="$work/epoch_1.pth"
head -c $(($(stat -c %s "$ckpt") / 2)) "$ckpt" >"$tmp/truncated.pth"
refused 10 "a truncated .pth" "$tmp/truncated.pth is truncated or corrupt" -- ds convert weights "$tmp/truncated.pth" "$tmp/converted.pth"

# ---------------------------------------------------------------- 8: --auto-resume
ln -sf epoch_7.pth "$work/latest.pth"
echo "half a checkpoint" >"$work/epoch_2.pth"
run ds train "$config" --work-dir "$work" --auto-resume --no-validate "${opts[@]}" runner.max_epochs=1
if [[ $rc -eq 0 ]] && grep -qF "resuming from $work/epoch_1.pth, the newest valid checkpoint" "$out"; then
  check 8 "--auto-resume, latest.pth dangling, epoch_2.pth damaged" ok "$(grep -o -- '--auto-resume: .*' "$out" | cut -c1-170)"
else
  check 8 "--auto-resume, latest.pth dangling, epoch_2.pth damaged" no "exit $rc: $(first_line "$err")"
fi
rm -f "$work/latest.pth" "$work/epoch_2.pth"

# ---------------------------------------------------------------- 1, 3: outputs stay in their folder, inputs are never overwritten
mkdir -p "$data/deep/a/b" "$tmp/elsewhere"
cp "$data/img0.ppm" "$data/deep/x.ppm"; cp "$data/img1.ppm" "$tmp/elsewhere/y.ppm"; cp "$data/img2.ppm" "$data/deep/a/b/z.ppm"
python3 - "$data/coco.json" "$data/hostile.json" "$tmp/elsewhere/y.ppm" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for image, name in zip(d['images'], ['../../x.ppm', sys.argv[3], 'z.ppm']): image['file_name'] = name
d['images'] = d['images'][:3]
json.dump(d, open(sys.argv[2], 'w'))
PY
before=$(sha "$tmp/elsewhere/y.ppm")
run ds test "$config" "$ckpt" --show-dir "$tmp/show/nested" "${opts[@]}" "data.test.ann_file=$data/hostile.json" "data.test.img_prefix=$data/deep/a/b/"
shown=$(find "$tmp/show/nested" -type f | wc -l)
if [[ $rc -eq 0 && $shown -eq 3 && $(sha "$tmp/elsewhere/y.ppm") == "$before" && ! -e "$data/deep/a/x.ppm" && $(ls "$tmp/elsewhere") == y.ppm ]]; then
  check 1 "test --show-dir with file_name '../../x.ppm' and an absolute one" ok "3 pictures in the show folder, nothing written outside, the originals unchanged"
else
  check 1 "test --show-dir with file_name '../../x.ppm' and an absolute one" no "exit $rc, $shown pictures: $(first_line "$err")"
fi
mkdir -p "$tmp/blocked/z.ppm"
refused 1 "test --show-dir where a picture cannot be written" "$tmp/blocked/z.ppm" -- \
  ds test "$config" "$ckpt" --show-dir "$tmp/blocked" "${opts[@]}" "data.test.ann_file=$data/hostile.json" "data.test.img_prefix=$data/deep/a/b/"
cp "$data/img0.ppm" "$data/a/same.ppm"; cp "$data/img1.ppm" "$data/b/same.ppm"
run ds infer "$config" "$ckpt" "$data/a/same.ppm" "$data/b/same.ppm" --out-dir "$tmp/infer"
pictures=$(find "$tmp/infer" -type f | wc -l)
[[ $rc -eq 0 && $pictures -eq 2 ]] && check 1 "infer a/same.ppm b/same.ppm" ok "$(tail -n 1 "$out")" || check 1 "infer a/same.ppm b/same.ppm" no "exit $rc, $pictures pictures"
python3 - "$data/coco.json" "$data/two_same.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d['images'][0]['file_name'] = 'a/same.ppm'; d['images'][1]['file_name'] = 'b/same.ppm'
json.dump(d, open(sys.argv[2], 'w'))
PY
run ds browse-dataset "$config" --output-dir "$tmp/browse" "${opts[@]}" "data.train.ann_file=$data/two_same.json"
pngs=$(find "$tmp/browse" -name '*.png' | wc -l)
[[ $rc -eq 0 && $pngs -eq 4 ]] && check 1 "browse-dataset with a/same.ppm and b/same.ppm" ok "$(tail -n 1 "$out"), $pngs PNGs" || check 1 "browse-dataset with a/same.ppm and b/same.ppm" no "exit $rc, $pngs PNGs"
# infer lists a folder's .jpg/.png/... files; OpenCV decodes by content, so PPM data under a .png name will do.
mkdir -p "$tmp/photos"
cp "$data/img0.ppm" "$tmp/photos/p0.png"; cp "$data/img1.ppm" "$tmp/photos/p1.png"
before=$(sha "$tmp/photos/p0.png")
refused 3 "infer DIR --out-dir DIR" "would overwrite the input" -- ds infer "$config" "$ckpt" "$tmp/photos" --out-dir "$tmp/photos"
[[ $(sha "$tmp/photos/p0.png") == "$before" ]] && check 3 "infer DIR --out-dir DIR left the images" ok "unchanged" || check 3 "infer DIR --out-dir DIR left the images" no "an input changed"
before=$(sha "$data/via.json")
refused 3 "convert via2coco X.json -o X.json" "would overwrite the input" -- ds convert via2coco "$data/via.json" -o "$data/via.json" --category-attribute shape --classes ellipse triangle square
[[ $(sha "$data/via.json") == "$before" ]] && check 3 "via2coco left its source" ok "unchanged" || check 3 "via2coco left its source" no "the source changed"

# ---------------------------------------------------------------- 4, 10: annotations and images
via img0.ppm '"polygon"' img1.ppm "[$region]" img2.ppm 7 >"$data/bad_regions.json"
refused 4 "via2coco with 'regions' a string and a number" "2 bad record(s); nothing was written" "'img0.ppm'" "'img2.ppm'" -- \
  ds convert via2coco "$data/bad_regions.json" -o "$tmp/never.json" --category-attribute shape --classes ellipse triangle square
[[ ! -e "$tmp/never.json" ]] && check 4 "nothing written" ok "no output file" || check 4 "nothing written" no "an output file was written"
: >"$data/empty.ppm"
via img0.ppm "[$region]" empty.ppm "[$region]" >"$data/with_empty.json"
refused 10 "via2coco with a 0-byte image" "empty.ppm: the image file is empty (0 bytes)" -- \
  ds convert via2coco "$data/with_empty.json" -o "$tmp/never.json" --category-attribute shape --classes ellipse triangle square
python3 - "$data/coco.json" "$data" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d['annotations'][0]['bbox'] = [3, 4]; json.dump(d, open(sys.argv[2] + '/short_bbox.json', 'w'))
d = json.load(open(sys.argv[1]))
d['annotations'][0]['segmentation'] = {'size': [48, 64], 'counts': 'zz~~'}; d['annotations'][0]['iscrowd'] = 1
json.dump(d, open(sys.argv[2] + '/bad_rle.json', 'w'))
d = json.load(open(sys.argv[1])); d['images'][1]['file_name'] = 'empty.ppm'; json.dump(d, open(sys.argv[2] + '/empty_image.json', 'w'))
PY
refused 10 "train with a bbox of 2 numbers" "short_bbox.json: annotations[0]" "'bbox' must be a list of 4 numbers" -- \
  ds train "$config" --work-dir "$tmp/w_bbox" "${opts[@]}" "data.train.ann_file=$data/short_bbox.json"
grep -q "Epoch \[1\]" "$out" && check 10 "...before the first iteration" no "training ran" || check 10 "...before the first iteration" ok "no iteration ran"
refused 10 "train with a 0-byte image" "empty.ppm (image id 1)" "are empty (0 bytes)" -- \
  ds train "$config" --work-dir "$tmp/w_empty" "${opts[@]}" "data.train.ann_file=$data/empty_image.json"
echo '[]' >"$tmp/no_results.json"
refused 10 "coco-eval with garbage RLE counts" "bad_rle.json: annotations[0]" "not a valid COCO RLE" -- ds coco-eval "$data/bad_rle.json" "$tmp/no_results.json" --iou-type segm
refused 10 "roi extractor out_channels != neck out_channels" "model.roi_head.bbox_roi_extractor.out_channels (16) differs from model.neck.out_channels (32)" -- \
  ds print-model "$config" --cfg-options model.roi_head.bbox_roi_extractor.out_channels=16

# ---------------------------------------------------------------- 2, 11: work dir lock, stale temporary files, a full disk
lockdir="$tmp/w_lock"
# Started directly (not through a function), so that $! is the training process itself (detsharp execs dotnet).
"$root/detsharp" train "$config" --work-dir "$lockdir" --no-validate "${opts[@]}" runner.max_epochs=100000 checkpoint_config.interval=100000 >/dev/null 2>&1 &
first_pid=$!
for _ in $(seq 600); do compgen -G "$lockdir/*.log" >/dev/null && break; sleep 0.3; done
refused 2 "a second train into a busy work dir" "is in use by another training run" "PID $first_pid" -- \
  ds train "$config" --work-dir "$lockdir" "${opts[@]}" model.type=NoSuchDetector
kill -9 "$first_pid"; wait "$first_pid" 2>/dev/null; first_pid=""
head -c 3000000 /dev/zero >"$lockdir/.epoch_3.pth.0123456789abcdef0123456789abcdef.tmp"
run ds train "$config" --work-dir "$lockdir" "${opts[@]}" model.type=NoSuchDetector
if grep -q "is not registered" "$err" && [[ ! -e "$lockdir/.epoch_3.pth.0123456789abcdef0123456789abcdef.tmp" ]]; then
  check 2 "after kill -9 the work dir is free" ok "the next run got past the lock"
  check 11 "a temporary checkpoint left by the kill" ok "removed at the next start"
else
  check 2 "after kill -9 the work dir is free" no "$(first_line "$err")"
  check 11 "a temporary checkpoint left by the kill" no "still there or lock held"
fi
# A full disk: a 3 MiB tmpfs where root may mount one (the log fits, a checkpoint does not); elsewhere a 1 MiB file-size
# limit makes the checkpoint write fail the same way (SIGXFSZ ignored so the write returns an error; W^X off, since its
# double mapping needs a large shared-memory file).
full="$tmp/w_full"
mkdir -p "$full"
if mount -t tmpfs -o size=3m tmpfs "$full" 2>/dev/null; then
  how="a full 3 MiB disk"
  run ds train "$config" --work-dir "$full/work" --no-validate "${opts[@]}" runner.max_epochs=1
else
  how="a 1 MiB file-size limit"
  run env DOTNET_EnableWriteXorExecute=0 bash -c 'trap "" XFSZ; ulimit -f 1024; exec "$0" "$@"' "$root/detsharp" train "$config" \
    --work-dir "$full/work" --no-validate "${opts[@]}" runner.max_epochs=1
fi
log=$(ls "$full"/work/*.log 2>/dev/null | head -n 1)
shown=$(sed -n 's/^error: \([A-Za-z]*Exception: \)\{0,1\}\(.*\) (run with --verbose for details)$/\2/p; s/^error: \(.*\)$/\1/p' "$err" | head -n 1)
if [[ $rc -eq 1 && -n $log && -n $shown ]] && grep -qF -- " - ERROR - $shown" "$log" && [[ -z $(find "$full/work" -name '*.tmp') ]]; then
  check 11 "checkpointing onto $how" ok "'$(echo "$shown" | cut -c1-90)' in $(basename "$log"), no temporary file left"
else
  check 11 "checkpointing onto $how" no "exit $rc: $(first_line "$err")"
fi
mountpoint -q "$full" && umount "$full"

# ---------------------------------------------------------------- 9: the demo, on a budget far too small for the machine
if [[ $with_demo -eq 1 ]]; then
  run ds demo --out-dir "$tmp/demo" --minutes 0.01 --train-images 8 --val-images 4
  if [[ $rc -eq 0 && -f "$tmp/demo/map_curves.png" && -f "$tmp/demo/loss_curves.png" ]] && grep -q "Epoch(val) \[3\]" "$out"; then
    check 9 "demo --minutes 0.01" ok "$(grep -o 'Demo finished.*' "$out" | cut -c1-150)"
  else
    check 9 "demo --minutes 0.01" no "exit $rc: $(tail -n 1 "$err")"
  fi
fi

echo "Hostile inputs: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
