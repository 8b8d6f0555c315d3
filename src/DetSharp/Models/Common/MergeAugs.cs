using DetSharp.Config;
using DetSharp.Ops;
using static TorchSharp.torch;

namespace DetSharp.Models.Common;

/// <summary>
/// MMDetection's test-time-augmentation helpers: <c>bbox_flip</c>, <c>bbox_mapping</c> / <c>bbox_mapping_back</c>
/// (original image ↔ one augmentation's input) and <c>merge_aug_proposals</c> / <c>merge_aug_bboxes</c> /
/// <c>merge_aug_masks</c>. Every augmentation's meta carries its own img_shape, scale_factor and flip.
/// </summary>
public static class MergeAugs
{
    /// <summary><c>bbox_flip</c>: [..., 4k] boxes mirrored inside an image of <paramref name="imgShape"/>.</summary>
    public static Tensor BboxFlip(Tensor bboxes, (int Height, int Width) imgShape, string? direction)
    {
        using var scope = NewDisposeScope();
        var x1 = bboxes[TensorIndex.Ellipsis, TensorIndex.Slice(0, null, 4)];
        var y1 = bboxes[TensorIndex.Ellipsis, TensorIndex.Slice(1, null, 4)];
        var x2 = bboxes[TensorIndex.Ellipsis, TensorIndex.Slice(2, null, 4)];
        var y2 = bboxes[TensorIndex.Ellipsis, TensorIndex.Slice(3, null, 4)];
        float w = imgShape.Width, h = imgShape.Height;
        var (nx1, ny1, nx2, ny2) = (direction ?? "horizontal") switch
        {
            "horizontal" => (w - x2, y1, w - x1, y2),
            "vertical" => (x1, h - y2, x2, h - y1),
            "diagonal" => (w - x2, h - y2, w - x1, h - y1),
            var d => throw new DetSharpException($"bbox_flip: flip_direction must be horizontal, vertical or diagonal, got '{d}'."),
        };
        // Interleave the four coordinate columns back into (x1, y1, x2, y2) per box.
        var flipped = stack([nx1, ny1, nx2, ny2], -1).reshape(bboxes.shape);
        return flipped.MoveToOuterDisposeScope();
    }

    /// <summary><c>bbox_mapping</c>: boxes [N, 4] of the original image into the augmentation's input (scaled, then flipped).</summary>
    public static Tensor BboxMapping(Tensor bboxes, ImgMeta meta)
    {
        using var scope = NewDisposeScope();
        var mapped = bboxes * tensor(meta.ScaleFactor, device: bboxes.device);
        if (meta.Flip) mapped = BboxFlip(mapped, meta.ImgShape, meta.FlipDirection);
        return mapped.MoveToOuterDisposeScope();
    }

    /// <summary><c>bbox_mapping_back</c>: boxes [N, 4k] of the augmentation's input back into the original image.</summary>
    public static Tensor BboxMappingBack(Tensor bboxes, ImgMeta meta)
    {
        using var scope = NewDisposeScope();
        var unflipped = meta.Flip ? BboxFlip(bboxes, meta.ImgShape, meta.FlipDirection) : bboxes;
        var back = (unflipped.reshape(-1, 4) / tensor(meta.ScaleFactor, device: bboxes.device)).reshape(bboxes.shape);
        return back.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// <c>merge_aug_proposals</c>: every augmentation's proposals [n, 5] mapped back to the original image, concatenated,
    /// NMS with the rpn test_cfg's <c>nms.iou_threshold</c>, the best <c>max_per_img</c> kept. Returns [K, 5].
    /// </summary>
    public static Tensor MergeAugProposals(IReadOnlyList<Tensor> augProposals, IReadOnlyList<ImgMeta> augMetas, ConfigDict rpnTestCfg)
    {
        using var scope = NewDisposeScope();
        double iou = rpnTestCfg.Get<ConfigDict?>("nms", null)?.Get<double>("iou_threshold")
            ?? rpnTestCfg.Get<double?>("nms_thr", null)
            ?? throw new DetSharpException("merge_aug_proposals: test_cfg.rpn needs nms=dict(iou_threshold=...).");
        int maxPerImg = rpnTestCfg.Get<int?>("max_per_img", null) ?? rpnTestCfg.Get<int?>("max_num", null)
            ?? throw new DetSharpException("merge_aug_proposals: test_cfg.rpn needs max_per_img.");
        var recovered = augProposals.Select((p, i) => cat([BboxMappingBack(p[.., 0..4], augMetas[i]), p[.., 4..5]], 1)).ToList();
        var all = cat(recovered, 0);
        // mmcv's nms returns the kept rows by descending score, so the best max_per_img are its first rows.
        var (dets, _) = Nms.nms(all[.., 0..4].contiguous(), all[.., 4].contiguous(), iou);
        long num = Math.Min(maxPerImg, dets.shape[0]);
        return dets[..(int)num].MoveToOuterDisposeScope();
    }

    /// <summary>
    /// <c>merge_aug_bboxes</c>: the mean over augmentations of the boxes [n, 4k] mapped back to the original image and of
    /// the scores [n, C+1] (every augmentation scored the same proposals, row for row).
    /// </summary>
    public static (Tensor Bboxes, Tensor Scores) MergeAugBboxes(IReadOnlyList<Tensor> augBboxes, IReadOnlyList<Tensor> augScores, IReadOnlyList<ImgMeta> augMetas)
    {
        using var scope = NewDisposeScope();
        var bboxes = stack(augBboxes.Select((b, i) => BboxMappingBack(b, augMetas[i])).ToArray()).mean([0]);
        var scores = stack(augScores.ToArray()).mean([0]);
        return (bboxes.MoveToOuterDisposeScope(), scores.MoveToOuterDisposeScope());
    }

    /// <summary><c>merge_aug_masks</c>: the mean of every augmentation's mask probabilities [n, C, m, m], flipped ones flipped back.</summary>
    public static Tensor MergeAugMasks(IReadOnlyList<Tensor> augMasks, IReadOnlyList<ImgMeta> augMetas)
    {
        using var scope = NewDisposeScope();
        var recovered = augMasks.Select((m, i) => !augMetas[i].Flip ? m : (augMetas[i].FlipDirection ?? "horizontal") switch
        {
            "horizontal" => m.flip(3),
            "vertical" => m.flip(2),
            "diagonal" => m.flip(2, 3),
            var d => throw new DetSharpException($"merge_aug_masks: flip_direction must be horizontal, vertical or diagonal, got '{d}'."),
        }).ToArray();
        return stack(recovered).mean([0]).MoveToOuterDisposeScope();
    }
}
