#!/usr/bin/env bash
# The balloon benchmark (the seed's own dataset, issue #10): convert ../shared/datasets/balloon with
# `detsharp convert via2coco`, fine-tune a config on the CPU, test it on the 13 val images with --eval bbox segm,
# draw the val predictions, and print wall time, s/iter, peak memory and the metrics.
#
#   bash bench/balloon.sh [CONFIG] [--cfg-options ...extra options]
#
# CONFIG defaults to configs/balloon/mask_rcnn_r18_fpn128_3qscale_36e_balloon.py, the one-hour recipe (ImageNet ResNet-18
# from NuGet, about 52 minutes on 2 cores); mask_rcnn_r18_fpn128_halfscale_16e_balloon.py is its 13-minute version and
# cascade_mask_rcnn_r18_augfpn128_autoaug_balloon.py the seed's Cascade + AugFPN + AutoAugment on the same backbone.
# For the seed's Cascade + AugFPN config (one class; its train set is a RepeatDataset, hence TRAIN_KEY; the COCO
# checkpoint in its load_from is not reachable offline):
#   TRAIN_KEY=data.train.dataset bash bench/balloon.sh configs/cityscapes/cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes.py \
#     --cfg-options data.train.times=1 data.train.dataset.type=CocoDataset "data.train.dataset.classes=('balloon',)" \
#     data.val.type=CocoDataset "data.val.classes=('balloon',)" data.test.type=CocoDataset "data.test.classes=('balloon',)" \
#     model.roi_head.bbox_head.0.num_classes=1 model.roi_head.bbox_head.1.num_classes=1 \
#     model.roi_head.bbox_head.2.num_classes=1 model.roi_head.mask_head.num_classes=1 load_from=None ...
# For YOLOX on balloon (boxes only; its train set is a MultiImageMixDataset):
#   METRICS=bbox TRAIN_KEY=data.train.dataset bash bench/balloon.sh configs/balloon/yolox_tiny_r18_balloon.py
# Outputs go to $OUT (default work_dirs/balloon_bench/<config name>).
set -euo pipefail
cd "$(dirname "$0")/.."
BALLOON=${BALLOON:-../shared/datasets/balloon}
TRAIN_KEY=${TRAIN_KEY:-data.train}
# Boxes-only models (YOLOX) evaluate METRICS=bbox.
read -ra metrics <<< "${METRICS:-bbox segm}"
CONFIG=${1:-configs/balloon/mask_rcnn_r18_fpn128_3qscale_36e_balloon.py}
shift $(( $# > 0 ? 1 : 0 ))
extra=()
if [[ $# -gt 0 && $1 == --cfg-options ]]; then shift; extra=("$@"); fi
name=$(basename "$CONFIG" .py)
OUT=${OUT:-work_dirs/balloon_bench/$name}
[[ -d $BALLOON/train ]] || { echo "balloon dataset not found at $BALLOON (set BALLOON=...)" >&2; exit 1; }
mkdir -p "$OUT/data"

for split in train val; do
  ./detsharp convert via2coco "$BALLOON/$split/via_region_data.json" -o "$OUT/data/$split.json" --image-dir "$BALLOON/$split"
done
opts=(
  "$TRAIN_KEY.ann_file=$OUT/data/train.json" "$TRAIN_KEY.img_prefix=$BALLOON/train/"
  "data.val.ann_file=$OUT/data/val.json" "data.val.img_prefix=$BALLOON/val/"
  "data.test.ann_file=$OUT/data/val.json" "data.test.img_prefix=$BALLOON/val/"
  "${extra[@]}"
)

start=$(date +%s)
/usr/bin/time -v -o "$OUT/train_time.txt" ./detsharp train "$CONFIG" --work-dir "$OUT/work" --seed 0 --cfg-options "${opts[@]}"
train_s=$(( $(date +%s) - start ))
./detsharp test "$CONFIG" "$OUT/work/latest.pth" --eval "${metrics[@]}" --show-dir "$OUT/show" --work-dir "$OUT/work" \
  --cfg-options "${opts[@]}" | tee "$OUT/test.txt"

log_json=$(ls "$OUT"/work/*.log.json | sort | tail -1)
s_per_iter=$(grep '"mode": "train"' "$log_json" | sed -E 's/.*"time": ([0-9.]+).*/\1/' | awk '{s+=$1; n++} END {if (n) printf "%.2f", s/n}')
peak_kb=$(grep 'Maximum resident set size' "$OUT/train_time.txt" | awk '{print $NF}')
echo
echo "balloon benchmark: $CONFIG"
echo "  training wall time: $(( train_s / 60 )) min $(( train_s % 60 )) s, mean ${s_per_iter} s/iter, peak RSS $(( peak_kb / 1024 )) MiB"
echo "  val (13 images): $(grep -o "'bbox_mAP_copypaste', '[^']*'" "$OUT/test.txt" | head -1), $(grep -o "'segm_mAP_copypaste', '[^']*'" "$OUT/test.txt" | head -1)"
echo "  pictures: $OUT/show, log: $log_json"
