#!/usr/bin/env bash
# One-stage inference speed next to Mask R-CNN's, measured in the same run: `detsharp benchmark infer` of Mask R-CNN
# R50-FPN and the chosen one-stage models (random weights, score_thr 0 so that every image ends with 100 detections
# after NMS) on the COCO mini val images, each at its config's test scale (1333×800; YOLOX-tiny 416, YOLOX-s 640),
# alternating them ROUNDS times (default 2); prints each run and, per model, the median s/image and its ratio to
# Mask R-CNN's median. MODELS: any of retinanet fcos yolox_tiny yolox_s (default: retinanet fcos).
# Usage: bash bench/dense_heads_infer.sh [ROUNDS] [IMAGES] [MODELS...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds="${1:-2}"; images="${2:-3}"; shift $(( $# < 2 ? $# : 2 ))
coco="$root/../shared/datasets/coco_mini"
[[ -d "$coco" ]] || { echo "dense_heads_infer: $coco not found" >&2; exit 1; }
data=("data.test.ann_file=$coco/annotations/instances_val2017.json" "data.test.img_prefix=$coco/val2017/")
declare -A cfg=(
  [mask_rcnn]="configs/mask_rcnn/mask_rcnn_r50_fpn_1x_coco.py|model.test_cfg.rcnn.score_thr=0.0"
  [retinanet]="configs/retinanet/retinanet_r50_fpn_1x_coco.py|model.test_cfg.score_thr=0.0"
  [fcos]="configs/fcos/fcos_r50_caffe_fpn_gn-head_1x_coco.py|model.test_cfg.score_thr=0.0"
  [yolox_tiny]="configs/yolox/yolox_tiny_8x8_300e_coco.py|model.test_cfg.score_thr=0.0"
  [yolox_s]="configs/yolox/yolox_s_8x8_300e_coco.py|model.test_cfg.score_thr=0.0"
)
if (($#)); then models=("$@"); else models=(retinanet fcos); fi
for m in "${models[@]}"; do [[ -n "${cfg[$m]:-}" ]] || { echo "dense_heads_infer: unknown model '$m' (${!cfg[*]})" >&2; exit 1; }; done
order=(mask_rcnn "${models[@]}")
declare -A runs
for ((r = 1; r <= rounds; r++)); do
  for m in "${order[@]}"; do
    IFS='|' read -r config opt <<< "${cfg[$m]}"
    json="$("$root/detsharp" benchmark infer "$root/$config" --images "$images" --warmup 1 --json --cfg-options "$opt" "${data[@]}")"
    s="$(python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print("%.3f" % (d["MsPerImage"] / 1000))' <<< "$json")"
    echo "round $r $m: $s s/image"
    runs[$m]+="$s "
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
base="$(median <<< "${runs[mask_rcnn]}")"
for m in "${order[@]}"; do
  med="$(median <<< "${runs[$m]}")"
  echo "$m: median $med s/image, $(python3 -c "print(f'{$med/$base:.2f}')")× Mask R-CNN's time"
done
