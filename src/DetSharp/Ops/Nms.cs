using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Ops;

/// <summary>The result of <see cref="Nms.MulticlassNms"/>: dets [N, 5], labels [N], and (when asked) the kept
/// indices into the flattened [num_boxes * num_classes] candidates.</summary>
public sealed record MulticlassNmsResult(Tensor Dets, Tensor Labels, Tensor? Inds);

/// <summary>
/// Non-maximum suppression as mmcv (<c>mmcv.ops.nms</c>) and MMDetection 2.x (<c>batched_nms</c>, <c>multiclass_nms</c>).
/// The suppression loop runs in C# over score-sorted float arrays (<see cref="NmsKernel"/>); tensors on other
/// devices are copied to the CPU for it and the indices copied back. Outputs are not differentiable (as in mmcv).
/// </summary>
public static class Nms
{
    /// <summary>
    /// <c>mmcv.ops.nms(boxes, scores, iou_threshold, offset, score_threshold, max_num)</c>: returns
    /// <c>dets</c> [N, 5] = (x1, y1, x2, y2, score) and the kept indices (int64), by score descending.
    /// </summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Style", "IDE1006:Naming Styles", Justification = "mmcv.ops.nms's name, as its callers know it.")]
    public static (Tensor Dets, Tensor Keep) nms(Tensor boxes, Tensor scores, double iouThreshold, int offset = 0, double scoreThreshold = 0, int maxNum = -1)
    {
        CheckBoxes(boxes, scores);
        using var scope = NewDisposeScope();
        var keep = NmsIndices(boxes, scores, iouThreshold, offset, scoreThreshold, maxNum);
        var dets = Dets(boxes, scores, keep);
        return (dets.MoveToOuterDisposeScope(), keep.MoveToOuterDisposeScope());
    }

    /// <summary>The kept indices only (int64, on the boxes' device), as <see cref="nms"/>.</summary>
    public static Tensor NmsIndices(Tensor boxes, Tensor scores, double iouThreshold, int offset = 0, double scoreThreshold = 0, int maxNum = -1)
    {
        CheckBoxes(boxes, scores);
        if (offset is not (0 or 1))
        {
            throw new ArgumentException($"nms: offset must be 0 or 1, got {offset}.");
        }

        var b = ToFloatArray(boxes);
        var s = ToFloatArray(scores);
        var keep = RunFiltered(b, s, (float)iouThreshold, offset, (float)scoreThreshold, maxNum);
        return ToIndexTensor(keep, boxes.device);
    }

    /// <summary>
    /// <c>mmcv.ops.soft_nms(boxes, scores, iou_threshold, sigma, min_score, method, offset)</c> (CPU semantics, see
    /// <see cref="SoftNmsKernel"/>): returns <c>dets</c> [N, 5] = (x1, y1, x2, y2, rescored score) in selection order and
    /// the kept indices (int64).
    /// </summary>
    public static (Tensor Dets, Tensor Keep) SoftNms(Tensor boxes, Tensor scores, double iouThreshold = 0.3, double sigma = 0.5, double minScore = 1e-3, string method = "linear", int offset = 0)
    {
        CheckBoxes(boxes, scores);
        var cfg = new NmsConfig(iouThreshold, "soft_nms", Offset: offset, Sigma: sigma, MinScore: minScore, Method: method);
        cfg.Validate();
        using var scope = NewDisposeScope();
        var (keep, rescored) = RunOp(ToFloatArray(boxes), ToFloatArray(scores), cfg, splitting: false);
        var keepT = ToIndexTensor(keep, boxes.device);
        var dets = Dets(boxes, keepT, rescored!);
        return (dets.MoveToOuterDisposeScope(), keepT.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// MMDetection's <c>batched_nms(boxes, scores, idxs, nms_cfg, class_agnostic)</c>: NMS within each category
    /// <paramref name="idxs"/>, done in one pass by offsetting the boxes by <c>idx * (max_coordinate + 1)</c>, or by a
    /// loop over categories when there are at least <c>split_thr</c> boxes. A null <paramref name="nmsCfg"/> only sorts.
    /// Returns <c>dets</c> [N, 5] (original boxes with their scores; soft-NMS's rescored scores) and <c>keep</c> [N], by
    /// score descending (soft-NMS without splitting: in its selection order, as mmcv).
    /// </summary>
    public static (Tensor Dets, Tensor Keep) BatchedNms(Tensor boxes, Tensor scores, Tensor idxs, NmsConfig? nmsCfg, bool classAgnostic = false)
    {
        CheckBoxes(boxes, scores);
        if (idxs.dim() != 1 || idxs.shape[0] != boxes.shape[0])
        {
            throw new ArgumentException($"batched_nms: idxs must be [{boxes.shape[0]}], got [{string.Join(", ", idxs.shape)}].");
        }

        using var scope = NewDisposeScope();
        var s = ToFloatArray(scores);
        int n = s.Length;
        int[] keep;
        float[]? rescored = null;
        if (nmsCfg is null)
        {
            keep = NmsKernel.SortDescending(s);
        }
        else
        {
            nmsCfg.Validate();
            bool agnostic = nmsCfg.ClassAgnostic ?? classAgnostic;
            var b = ToFloatArray(boxes);
            var labels = ToLongArray(idxs);
            if (!agnostic && n > 0)
            {
                // boxes + idxs * (boxes.max() + 1), in float32 as MMDetection.
                float max = float.NegativeInfinity;
                foreach (var v in b)
                {
                    max = MathF.Max(max, v);
                }

                float step = max + 1f;
                for (int i = 0; i < n; i++)
                {
                    float o = labels[i] * step;
                    b[i * 4] += o;
                    b[i * 4 + 1] += o;
                    b[i * 4 + 2] += o;
                    b[i * 4 + 3] += o;
                }
            }

            (keep, rescored) = n < nmsCfg.SplitThreshold ? RunOp(b, s, nmsCfg, splitting: false) : SplitNms(b, s, labels, nmsCfg);
        }

        var keepT = ToIndexTensor(keep, boxes.device);
        var dets = rescored is null ? Dets(boxes, scores, keepT) : Dets(boxes, keepT, rescored);
        return (dets.MoveToOuterDisposeScope(), keepT.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// MMDetection 2.x <c>multiclass_nms(multi_bboxes, multi_scores, score_thr, nms_cfg, max_num, score_factors, return_inds)</c>.
    /// <paramref name="multiBboxes"/> is [N, C*4] (per class) or [N, 4] (shared); <paramref name="multiScores"/> is
    /// [N, C+1] with the background column last (dropped). Candidates with score &gt; <paramref name="scoreThr"/> are kept,
    /// then multiplied by <paramref name="scoreFactors"/> [N] if given, then <see cref="BatchedNms"/> per class.
    /// </summary>
    public static MulticlassNmsResult MulticlassNms(
        Tensor multiBboxes, Tensor multiScores, double scoreThr, NmsConfig? nmsCfg, int maxNum = -1, Tensor? scoreFactors = null, bool returnInds = false)
    {
        if (multiScores.dim() != 2 || multiBboxes.dim() != 2 || multiBboxes.shape[0] != multiScores.shape[0])
        {
            throw new ArgumentException(
                $"multiclass_nms: expected multi_bboxes [N, 4] or [N, C*4] and multi_scores [N, C+1], got [{string.Join(", ", multiBboxes.shape)}] and [{string.Join(", ", multiScores.shape)}].");
        }

        using var scope = NewDisposeScope();
        long n = multiScores.shape[0];
        long numClasses = multiScores.shape[1] - 1;
        Tensor bboxes;
        if (multiBboxes.shape[1] > 4)
        {
            if (multiBboxes.shape[1] != numClasses * 4)
            {
                throw new ArgumentException($"multiclass_nms: per-class multi_bboxes must be [N, {numClasses * 4}], got [{string.Join(", ", multiBboxes.shape)}].");
            }

            bboxes = multiBboxes.reshape(n, -1, 4);
        }
        else
        {
            bboxes = multiBboxes.unsqueeze(1).expand(n, numClasses, 4);
        }

        var scores = multiScores[.., ..^1];
        var labels = arange(numClasses, ScalarType.Int64, multiScores.device).view(1, -1).expand_as(scores);
        bboxes = bboxes.reshape(-1, 4);
        scores = scores.reshape(-1);
        labels = labels.reshape(-1);
        var validMask = scores > scoreThr;
        if (scoreFactors is not null)
        {
            var factors = scoreFactors.view(-1, 1).expand(n, numClasses).reshape(-1);
            scores = scores * factors;
        }

        var inds = validMask.nonzero().squeeze(1);
        bboxes = bboxes.index_select(0, inds);
        scores = scores.index_select(0, inds);
        labels = labels.index_select(0, inds);
        MulticlassNmsResult result;
        if (bboxes.numel() == 0)
        {
            var dets = cat(new[] { bboxes, scores.unsqueeze(1) }, -1);
            result = new MulticlassNmsResult(dets, labels, returnInds ? inds : null);
        }
        else
        {
            var (dets, keep) = BatchedNms(bboxes, scores, labels, nmsCfg);
            if (maxNum > 0)
            {
                dets = dets[..maxNum];
                keep = keep[..maxNum];
            }

            result = new MulticlassNmsResult(dets, labels.index_select(0, keep), returnInds ? inds.index_select(0, keep) : null);
        }

        result.Dets.MoveToOuterDisposeScope();
        result.Labels.MoveToOuterDisposeScope();
        result.Inds?.MoveToOuterDisposeScope();
        return result;
    }

    /// <summary>
    /// The op <paramref name="cfg"/> names on one group of boxes: the kept indices and, for soft-NMS, their rescored scores
    /// (null for NMS, which keeps scores). When <paramref name="splitting"/>, max_num is left to the caller, as
    /// MMDetection pops it before the per-class calls.
    /// </summary>
    private static (int[] Keep, float[]? Rescored) RunOp(float[] boxes, float[] scores, NmsConfig cfg, bool splitting)
    {
        if (cfg.Type == "soft_nms")
        {
            return SoftNmsKernel.Run(boxes, scores, (float)cfg.IouThreshold, (float)cfg.Sigma, (float)cfg.MinScore, cfg.SoftNmsMethod, cfg.Offset);
        }

        return (RunFiltered(boxes, scores, (float)cfg.IouThreshold, cfg.Offset, (float)cfg.ScoreThreshold, splitting ? -1 : cfg.MaxNum), null);
    }

    /// <summary>mmcv's NMSop: optional score filter, NMS, truncation to max_num, indices mapped back.</summary>
    private static int[] RunFiltered(float[] boxes, float[] scores, float iouThr, int offset, float scoreThr, int maxNum)
    {
        int[] keep;
        if (scoreThr > 0)
        {
            var valid = new List<int>();
            for (int i = 0; i < scores.Length; i++)
            {
                if (scores[i] > scoreThr)
                {
                    valid.Add(i);
                }
            }

            var vb = new float[valid.Count * 4];
            var vs = new float[valid.Count];
            for (int i = 0; i < valid.Count; i++)
            {
                Array.Copy(boxes, valid[i] * 4, vb, i * 4, 4);
                vs[i] = scores[valid[i]];
            }

            keep = NmsKernel.Run(vb, vs, iouThr, offset);
            for (int i = 0; i < keep.Length; i++)
            {
                keep[i] = valid[keep[i]];
            }
        }
        else
        {
            keep = NmsKernel.Run(boxes, scores, iouThr, offset);
        }

        if (maxNum > 0 && keep.Length > maxNum)
        {
            Array.Resize(ref keep, maxNum);
        }

        return keep;
    }

    /// <summary>MMDetection's split branch: the op per category (ascending ids), then all kept sorted by their score after it.</summary>
    private static (int[] Keep, float[]? Rescored) SplitNms(float[] boxes, float[] scores, long[] labels, NmsConfig cfg)
    {
        var groups = new SortedDictionary<long, List<int>>();
        for (int i = 0; i < labels.Length; i++)
        {
            if (!groups.TryGetValue(labels[i], out var list))
            {
                groups[labels[i]] = list = new List<int>();
            }

            list.Add(i);
        }

        var kept = new bool[scores.Length];
        var after = new float[scores.Length];
        foreach (var members in groups.Values)
        {
            var gb = new float[members.Count * 4];
            var gs = new float[members.Count];
            for (int i = 0; i < members.Count; i++)
            {
                Array.Copy(boxes, members[i] * 4, gb, i * 4, 4);
                gs[i] = scores[members[i]];
            }

            var (groupKeep, groupScores) = RunOp(gb, gs, cfg, splitting: true);
            for (int i = 0; i < groupKeep.Length; i++)
            {
                kept[members[groupKeep[i]]] = true;
                after[members[groupKeep[i]]] = groupScores?[i] ?? gs[groupKeep[i]];
            }
        }

        var keptIdx = new List<int>();
        for (int i = 0; i < kept.Length; i++)
        {
            if (kept[i])
            {
                keptIdx.Add(i);
            }
        }

        var keptScores = keptIdx.Select(i => after[i]).ToArray();
        var order = NmsKernel.SortDescending(keptScores);
        var keep = order.Select(o => keptIdx[o]).ToArray();
        if (cfg.MaxNum > 0 && keep.Length > cfg.MaxNum)
        {
            Array.Resize(ref keep, cfg.MaxNum);
        }

        return (keep, cfg.Type == "soft_nms" ? keep.Select(i => after[i]).ToArray() : null);
    }

    private static Tensor Dets(Tensor boxes, Tensor scores, Tensor keep) =>
        cat(new[] { boxes.index_select(0, keep), scores.index_select(0, keep).reshape(-1, 1).to_type(boxes.dtype) }, 1);

    /// <summary>The kept boxes with scores computed by the op (soft-NMS's rescored ones).</summary>
    private static Tensor Dets(Tensor boxes, Tensor keep, float[] rescored) =>
        cat(new[] { boxes.index_select(0, keep), tensor(rescored).to(boxes.dtype, boxes.device).reshape(-1, 1) }, 1);

    private static void CheckBoxes(Tensor boxes, Tensor scores)
    {
        if (boxes.dim() != 2 || boxes.shape[1] != 4)
        {
            throw new ArgumentException($"nms: boxes must be [N, 4], got [{string.Join(", ", boxes.shape)}].");
        }

        if (scores.dim() != 1 || scores.shape[0] != boxes.shape[0])
        {
            throw new ArgumentException($"nms: scores must be [{boxes.shape[0]}], got [{string.Join(", ", scores.shape)}].");
        }
    }

    internal static float[] ToFloatArray(Tensor t)
    {
        using var c = t.detach().to(ScalarType.Float32, CPU).contiguous();
        return MemoryMarshal.Cast<byte, float>(c.bytes).ToArray();
    }

    private static long[] ToLongArray(Tensor t)
    {
        using var c = t.detach().to(ScalarType.Int64, CPU).contiguous();
        return MemoryMarshal.Cast<byte, long>(c.bytes).ToArray();
    }

    private static Tensor ToIndexTensor(int[] keep, Device device)
    {
        var longs = new long[keep.Length];
        for (int i = 0; i < keep.Length; i++)
        {
            longs[i] = keep[i];
        }

        var t = tensor(longs, ScalarType.Int64);
        return device.type == DeviceType.CPU ? t : t.to(device);
    }
}
