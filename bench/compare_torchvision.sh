#!/usr/bin/env bash
# DetSharp against PyTorch on the same CPU, images and model (issue 26): Mask R-CNN R50-FPN at 1333×800, random init,
# training (batch 2, COCO mini train) and inference (score_thr 0, 100 detections per image, COCO mini val), each side
# run alternately ROUNDS times (default 3) so that a change in machine load hits both; prints every run, then the median
# of each side and the ratio DetSharp / PyTorch (below 1: DetSharp is faster). DetSharp runs the README's `benchmark
# train` / `benchmark infer` commands; PyTorch runs bench/torchvision_maskrcnn_train.py and
# bench/torchvision_maskrcnn_infer.py (Debian's torch, THREADS intra-op threads). With CASCADE=1 (default) each round
# also runs the seed's model, Cascade Mask R-CNN R-50 + AugFPN (configs/cityscapes/cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes.py,
# its AutoAugment training pipeline, 80 COCO classes, the same images, scale and batch), whose medians are given as a
# ratio to DetSharp's own Mask R-CNN (torchvision has no Cascade R-CNN).
#
#   bash bench/compare_torchvision.sh [ROUNDS]
#   TRAIN_ITERS=1 INFER_IMAGES=1 INFER_WARMUP=0 CASCADE=0 bash bench/compare_torchvision.sh 1   # smoke run
#
# TRAIN_ITERS timed iterations per training run (default 3, after one warm-up iteration), INFER_IMAGES timed images per
# inference run (default 3, after INFER_WARMUP=2 untimed ones), THREADS (default 2). DetSharp uses libtorch's default
# thread count (one per core); set THREADS to the core count for a like-for-like run. BF16=1 also runs each DetSharp
# step with bfloat16 autocast (`mixed_precision.dtype=bfloat16`, the README's mixed precision) in the same rounds and
# prints its ratios beside float32's (PyTorch stays float32, torchvision's default). Each run's peak resident memory
# (GNU time) is printed too, and the medians beside the times.
#
# The same model and images on both sides: BN_AFFINE=frozen (default) runs DetSharp's configs with
# model.backbone.norm_cfg.requires_grad=False, torchvision's FrozenBatchNorm2d (frozen statistics and affine parameters),
# and frozen_bn_affine=True (those layers train as their affine map, as torchvision's do);
# BN_AFFINE=trained keeps the configs' default requires_grad=True (affine parameters trained, statistics frozen by
# norm_eval) and runs PyTorch with --train-bn-affine. Training reads only the COCO mini train images of 640×480 (12, six
# batches), so that every batch of either side has the same padded shape (1088×800): DetSharp's sampler batches images
# of one orientation, PyTorch's shuffled loader mixes them (a portrait and a landscape image pad to 1088×1088), and the
# peak memory and time follow the shape of the batches drawn.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds="${1:-3}"
train_iters="${TRAIN_ITERS:-3}"; infer_images="${INFER_IMAGES:-3}"; infer_warmup="${INFER_WARMUP:-2}"; cascade="${CASCADE:-1}"
bf16="${BF16:-0}"
export THREADS="${THREADS:-2}"
py=/usr/bin/python3
coco="$root/../shared/datasets/coco_mini"
[[ -d "$coco" ]] || { echo "compare_torchvision: $coco not found" >&2; exit 1; }
"$py" -c 'import torch, torchvision, PIL' 2>/dev/null || { echo "compare_torchvision: $py lacks torch/torchvision/PIL (apt-get install -y python3-torchvision python3-pil)" >&2; exit 1; }
val_ann="$coco/annotations/instances_val2017.json"
bn_affine="${BN_AFFINE:-frozen}"
case "$bn_affine" in
  frozen) bn_opts=(model.backbone.norm_cfg.requires_grad=False frozen_bn_affine=True); pt_bn=() ;;
  trained) bn_opts=(); pt_bn=(--train-bn-affine) ;;
  *) echo "compare_torchvision: BN_AFFINE must be frozen or trained, not '$bn_affine'" >&2; exit 1 ;;
esac
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
train_ann="$tmp/instances_train2017_640x480.json"
"$py" - "$coco/annotations/instances_train2017.json" "$train_ann" <<'PY'
import json, sys
coco = json.load(open(sys.argv[1]))
coco["images"] = [im for im in coco["images"] if (im["width"], im["height"]) == (640, 480)]
ids = {im["id"] for im in coco["images"]}
coco["annotations"] = [a for a in coco["annotations"] if a["image_id"] in ids]
json.dump(coco, open(sys.argv[2], "w"))
PY
mask_rcnn="$root/configs/mask_rcnn/mask_rcnn_r50_fpn_1x_coco.py"
seed="$root/configs/cityscapes/cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes.py"
train_data=("data.train.ann_file=$train_ann" "data.train.img_prefix=$coco/train2017/")
test_data=("data.test.ann_file=$val_ann" "data.test.img_prefix=$coco/val2017/")
# The seed config on COCO: its train set is a RepeatDataset of Cityscapes; 8 classes become COCO's 80; its scales (2048
# wide) become Mask R-CNN's 1333×800 (pipeline step 3 of training is Resize, step 1 of testing MultiScaleFlipAug); batch
# 2; no COCO checkpoint (load_from) and no pretrained backbone, as Mask R-CNN here.
seed_common=("${bn_opts[@]}" load_from=None model.roi_head.bbox_head.0.num_classes=80 model.roi_head.bbox_head.1.num_classes=80
  model.roi_head.bbox_head.2.num_classes=80 model.roi_head.mask_head.num_classes=80)
seed_train=("${seed_common[@]}" data.train.times=1 data.train.dataset.type=CocoDataset "data.train.dataset.ann_file=$train_ann"
  "data.train.dataset.img_prefix=$coco/train2017/" "data.train.dataset.pipeline.3.img_scale=(1333,800)" data.samples_per_gpu=2
  data.workers_per_gpu=2)
seed_test=("${seed_common[@]}" model.test_cfg.rcnn.score_thr=0.0 data.test.type=CocoDataset "${test_data[@]}"
  "data.test.pipeline.1.img_scale=(1333,800)")

declare -A runs rss
rss_file="$tmp/rss"
run() { # name, JSON field, scale to seconds, command...: runs it, records the field (seconds per iteration or per image)
  # and the process's peak resident memory (GNU time's %M: the process itself, not PyTorch's loader worker processes)
  local name="$1"; shift
  local field="$1"; shift
  local scale="$1"; shift
  local out s m
  out="$(/usr/bin/time -f %M -o "$rss_file" "$@")" || { echo "compare_torchvision: $name failed" >&2; exit 1; }
  s="$("$py" -c "import json,sys; print('%.3f' % (json.load(sys.stdin)['$field'] * $scale))" <<< "$out")"
  m="$("$py" -c "print('%.2f' % ($(tail -1 "$rss_file") / 1048576))")"
  echo "round $r $name: $s s, peak RSS $m GiB"
  runs[$name]+="$s "
  rss[$name]+="$m "
}
precisions=(fp32); [[ "$bf16" == 1 ]] && precisions+=(bf16)
for ((r = 1; r <= rounds; r++)); do
  for prec in "${precisions[@]}"; do
    # fp32 keeps the run names of the float32-only harness; bf16 runs are named with a suffix.
    sfx=""; mp=(); [[ $prec == bf16 ]] && { sfx=" bf16"; mp=(mixed_precision.dtype=bfloat16); }
    run "detsharp mask_rcnn train$sfx" SecondsPerIter 1 "$root/detsharp" benchmark train "$mask_rcnn" --iters "$train_iters" --json \
      --cfg-options model.backbone.init_cfg=None "${bn_opts[@]}" "${train_data[@]}" "${mp[@]}"
  done
  run "pytorch mask_rcnn train" SecondsPerIter 1 "$py" "$root/bench/torchvision_maskrcnn_train.py" "$coco/train2017" "$train_ann" \
    --iters "$train_iters" "${pt_bn[@]}" --json
  for prec in "${precisions[@]}"; do
    sfx=""; mp=(); [[ $prec == bf16 ]] && { sfx=" bf16"; mp=(mixed_precision.dtype=bfloat16); }
    run "detsharp mask_rcnn infer$sfx" MsPerImage 0.001 "$root/detsharp" benchmark infer "$mask_rcnn" --images "$infer_images" \
      --warmup "$infer_warmup" --json --cfg-options model.test_cfg.rcnn.score_thr=0.0 "${bn_opts[@]}" "${test_data[@]}" "${mp[@]}"
  done
  run "pytorch mask_rcnn infer" MsPerImage 0.001 "$py" "$root/bench/torchvision_maskrcnn_infer.py" "$coco/val2017" "$infer_images" "$val_ann" \
    --warmup "$infer_warmup" --json
  if [[ "$cascade" == 1 ]]; then
    for prec in "${precisions[@]}"; do
      sfx=""; mp=(); [[ $prec == bf16 ]] && { sfx=" bf16"; mp=(mixed_precision.dtype=bfloat16); }
      run "detsharp cascade_augfpn train$sfx" SecondsPerIter 1 "$root/detsharp" benchmark train "$seed" --iters "$train_iters" --json \
        --cfg-options "${seed_train[@]}" "${mp[@]}"
      run "detsharp cascade_augfpn infer$sfx" MsPerImage 0.001 "$root/detsharp" benchmark infer "$seed" --images "$infer_images" \
        --warmup "$infer_warmup" --json --cfg-options "${seed_test[@]}" "${mp[@]}"
    done
  fi
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ratio() { "$py" -c "print(f'{$1/$2:.2f}')"; }
echo "medians over $rounds round(s), $train_iters timed iteration(s) / $infer_images timed image(s) per run, PyTorch on $THREADS threads, BN affine $bn_affine:"
for phase in train infer; do
  unit=$([[ $phase == train ]] && echo "s/iter" || echo "s/image")
  p="$(median <<< "${runs[pytorch mask_rcnn $phase]}")"
  for prec in "${precisions[@]}"; do
    sfx=""; [[ $prec == bf16 ]] && sfx=" bf16"
    d="$(median <<< "${runs[detsharp mask_rcnn $phase$sfx]}")"
    echo "mask_rcnn $phase$sfx: DetSharp $d $unit, PyTorch (float32) $p $unit, DetSharp / PyTorch $(ratio "$d" "$p");" \
      "peak RSS DetSharp $(median <<< "${rss[detsharp mask_rcnn $phase$sfx]}") GiB, PyTorch $(median <<< "${rss[pytorch mask_rcnn $phase]}") GiB"
    if [[ "$cascade" == 1 ]]; then
      c="$(median <<< "${runs[detsharp cascade_augfpn $phase$sfx]}")"
      echo "cascade_augfpn $phase$sfx: DetSharp $c $unit, $(ratio "$c" "$d")x DetSharp's Mask R-CNN, $(ratio "$c" "$p")x PyTorch's Mask R-CNN"
    fi
  done
done
