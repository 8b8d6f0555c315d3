#!/usr/bin/env bash
# Acceptance check for crash safety: trains the slim balloon config (tiny scale, 2 epochs), kills the process with
# SIGKILL in the middle of epoch 2, then reruns with --auto-resume and checks that training continued from epoch_1.pth
# (epoch 2, iteration 8 = 8 iters/epoch), with the learning rate of an uninterrupted run, and that every checkpoint loads.
# Usage: bash tools/check-resume.sh [WORK_DIR]   (needs ../shared/datasets/balloon)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
R="$(cd ../shared/datasets/balloon && pwd)"
wd="${1:-$(mktemp -d)}"
rm -rf "$wd"
opts=(--cfg-options "data.train.ann_file=$R/train/annotation_coco.json" "data.train.img_prefix=$R/train/"
      runner.max_epochs=2 data.samples_per_gpu=8 "data.train.pipeline.2.img_scale=[(128,96)]" log_config.interval=2
      lr_config.warmup_iters=10 "lr_config.step=[1]")
./detsharp train configs/balloon/mask_rcnn_r18_slim_fpn_balloon.py --work-dir "$wd" --no-validate "${opts[@]}" > "$wd.run1.txt" 2>&1 &
pid=$!
while [[ ! -e "$wd/epoch_1.pth" ]]; do sleep 1; kill -0 $pid 2>/dev/null || { echo "training ended early"; cat "$wd.run1.txt"; exit 1; }; done
sleep 2
kill -0 $pid 2>/dev/null || { echo "FAIL: training finished before the kill"; exit 1; }
kill -9 $pid
wait $pid 2>/dev/null || true
echo "killed during: $(grep -h 'Epoch \[' "$wd"/*.log | tail -1 | cut -c1-80)"
ls "$wd"
./detsharp train configs/balloon/mask_rcnn_r18_slim_fpn_balloon.py --work-dir "$wd" --no-validate --auto-resume "${opts[@]}" > "$wd.run2.txt" 2>&1
grep -h "resumed epoch" "$wd"/*.log
grep -q "resumed epoch 1, iter 8" "$wd"/*.log || { echo "FAIL: did not resume at epoch 1, iter 8"; exit 1; }
[[ -e "$wd/epoch_2.pth" && "$(readlink "$wd/latest.pth")" == epoch_2.pth ]] || { echo "FAIL: epoch_2.pth/latest.pth missing"; exit 1; }
# epoch 2 (after step=[1]) trains at lr 0.002 in the resumed run
lr=$(grep -h '"mode": "train", "epoch": 2' "$wd"/*.log.json | tail -1 | sed 's/.*"lr": \([0-9.e-]*\),.*/\1/')
echo "epoch 2 lr: $lr"
[[ "$lr" == "0.002" ]] || { echo "FAIL: lr $lr after resume, expected 0.002"; exit 1; }
ls "$wd"/*.tmp 2>/dev/null && { echo "FAIL: temporary checkpoint left behind"; exit 1; }
echo "OK: resumed at epoch 2 with lr $lr; files: $(ls "$wd" | tr '\n' ' ')"
