using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Ops;

/// <summary>
/// MMDetection 2.x <c>bbox_overlaps(bboxes1, bboxes2, mode, is_aligned, eps)</c>: IoU, IoF (intersection over the
/// area of <c>bboxes1</c>) or GIoU between boxes (x1, y1, x2, y2), no +1 in widths. The union and the enclosing area
/// are raised to at least <c>eps</c> before dividing. Leading batch dimensions are supported.
/// Differentiable tensor formulation, computed in row chunks so a large N x M never materialises its [N, M, 2]
/// temporaries at once; without autograd, 2-D float32 CPU inputs take a parallel C# loop with the same float arithmetic.
/// </summary>
public static class BboxOverlaps
{
    /// <summary>Largest N x M block the tensor formulation computes in one go.</summary>
    public const long ChunkElements = 1L << 22;

    /// <summary>Computes the overlaps: [..., N, M], or [..., N] when <paramref name="isAligned"/>.</summary>
    public static Tensor Compute(Tensor bboxes1, Tensor bboxes2, string mode = "iou", bool isAligned = false, double eps = 1e-6)
    {
        if (mode is not ("iou" or "iof" or "giou"))
        {
            throw new ArgumentException($"bbox_overlaps: mode must be 'iou', 'iof' or 'giou', got '{mode}'.", nameof(mode));
        }

        if ((bboxes1.shape[^1] != 4 && bboxes1.shape[^2] != 0) || (bboxes2.shape[^1] != 4 && bboxes2.shape[^2] != 0))
        {
            throw new ArgumentException($"bbox_overlaps: boxes must be [..., N, 4], got [{string.Join(", ", bboxes1.shape)}] and [{string.Join(", ", bboxes2.shape)}].");
        }

        long rows = bboxes1.shape[^2], cols = bboxes2.shape[^2];
        if (isAligned && rows != cols)
        {
            throw new ArgumentException($"bbox_overlaps: is_aligned needs as many boxes in both sets, got {rows} and {cols}.");
        }

        var batch = bboxes1.shape[..^2];
        if (rows * cols == 0)
        {
            var shape = isAligned ? batch.Append(rows).ToArray() : batch.Append(rows).Append(cols).ToArray();
            return zeros(shape, bboxes1.dtype, bboxes1.device);
        }

        bool needsGrad = is_grad_enabled() && (bboxes1.requires_grad || bboxes2.requires_grad);
        if (!needsGrad && !isAligned && bboxes1.dim() == 2 && bboxes2.dim() == 2
            && bboxes1.device_type == DeviceType.CPU && bboxes2.device_type == DeviceType.CPU
            && bboxes1.dtype == ScalarType.Float32 && bboxes2.dtype == ScalarType.Float32)
        {
            return PairwiseCpu(bboxes1, bboxes2, mode, (float)eps);
        }

        if (isAligned || rows * cols <= ChunkElements)
        {
            return Tensors(bboxes1, bboxes2, mode, isAligned, eps);
        }

        long chunk = Math.Max(1, ChunkElements / cols);
        using var scope = NewDisposeScope();
        var parts = new List<Tensor>();
        for (long start = 0; start < rows; start += chunk)
        {
            var len = Math.Min(chunk, rows - start);
            parts.Add(Tensors(bboxes1.narrow(-2, start, len), bboxes2, mode, false, eps));
        }

        return cat(parts, -2).MoveToOuterDisposeScope();
    }

    private static Tensor Tensors(Tensor b1, Tensor b2, string mode, bool isAligned, double eps)
    {
        using var scope = NewDisposeScope();
        var area1 = (b1[TensorIndex.Ellipsis, 2] - b1[TensorIndex.Ellipsis, 0]) * (b1[TensorIndex.Ellipsis, 3] - b1[TensorIndex.Ellipsis, 1]);
        var area2 = (b2[TensorIndex.Ellipsis, 2] - b2[TensorIndex.Ellipsis, 0]) * (b2[TensorIndex.Ellipsis, 3] - b2[TensorIndex.Ellipsis, 1]);
        var lo1 = b1[TensorIndex.Ellipsis, TensorIndex.Slice(0, 2)];
        var hi1 = b1[TensorIndex.Ellipsis, TensorIndex.Slice(2, 4)];
        var lo2 = b2[TensorIndex.Ellipsis, TensorIndex.Slice(0, 2)];
        var hi2 = b2[TensorIndex.Ellipsis, TensorIndex.Slice(2, 4)];
        if (!isAligned)
        {
            // [..., N, 1, 2] against [..., 1, M, 2]
            lo1 = lo1.unsqueeze(-2);
            hi1 = hi1.unsqueeze(-2);
            lo2 = lo2.unsqueeze(-3);
            hi2 = hi2.unsqueeze(-3);
            area1 = area1.unsqueeze(-1);
            area2 = area2.unsqueeze(-2);
        }

        var wh = (minimum(hi1, hi2) - maximum(lo1, lo2)).clamp_min(0);
        var overlap = wh[TensorIndex.Ellipsis, 0] * wh[TensorIndex.Ellipsis, 1];
        var union = mode == "iof" ? area1.expand_as(overlap) : area1 + area2 - overlap;
        var epsT = tensor(new[] { eps }, union.dtype, union.device);
        union = maximum(union, epsT);
        var ious = overlap / union;
        if (mode != "giou")
        {
            return ious.MoveToOuterDisposeScope();
        }

        var ewh = (maximum(hi1, hi2) - minimum(lo1, lo2)).clamp_min(0);
        var enclose = maximum(ewh[TensorIndex.Ellipsis, 0] * ewh[TensorIndex.Ellipsis, 1], epsT);
        return (ious - (enclose - union) / enclose).MoveToOuterDisposeScope();
    }

    private static unsafe Tensor PairwiseCpu(Tensor bboxes1, Tensor bboxes2, string mode, float eps)
    {
        using var scope = NewDisposeScope();
        var a = bboxes1.contiguous();
        var b = bboxes2.contiguous();
        int n = (int)a.shape[0], m = (int)b.shape[0];
        var result = empty(new long[] { n, m }, ScalarType.Float32);
        int kind = mode switch { "iou" => 0, "iof" => 1, _ => 2 };
        var area2 = new float[m];
        var bs = MemoryMarshal.Cast<byte, float>(b.bytes).ToArray();
        for (int j = 0; j < m; j++)
        {
            area2[j] = (bs[j * 4 + 2] - bs[j * 4]) * (bs[j * 4 + 3] - bs[j * 4 + 1]);
        }

        fixed (byte* pa = a.bytes, pr = result.bytes)
        {
            nint aPtr = (nint)pa, rPtr = (nint)pr;
            Parallel.For(0, (n + 63) / 64, block =>
            {
                float* boxes1 = (float*)aPtr;
                int i1 = Math.Min(n, (block + 1) * 64);
                for (int i = block * 64; i < i1; i++)
                {
                    float ax1 = boxes1[i * 4], ay1 = boxes1[i * 4 + 1], ax2 = boxes1[i * 4 + 2], ay2 = boxes1[i * 4 + 3];
                    float area1 = (ax2 - ax1) * (ay2 - ay1);
                    float* row = (float*)rPtr + (long)i * m;
                    for (int j = 0; j < m; j++)
                    {
                        float bx1 = bs[j * 4], by1 = bs[j * 4 + 1], bx2 = bs[j * 4 + 2], by2 = bs[j * 4 + 3];
                        float w = MathF.Max(MathF.Min(ax2, bx2) - MathF.Max(ax1, bx1), 0f);
                        float h = MathF.Max(MathF.Min(ay2, by2) - MathF.Max(ay1, by1), 0f);
                        float overlap = w * h;
                        float union = kind == 1 ? area1 : area1 + area2[j] - overlap;
                        union = MathF.Max(union, eps);
                        float iou = overlap / union;
                        if (kind == 2)
                        {
                            float ew = MathF.Max(MathF.Max(ax2, bx2) - MathF.Min(ax1, bx1), 0f);
                            float eh = MathF.Max(MathF.Max(ay2, by2) - MathF.Min(ay1, by1), 0f);
                            float enclose = MathF.Max(ew * eh, eps);
                            iou -= (enclose - union) / enclose;
                        }

                        row[j] = iou;
                    }
                }
            });
        }

        return result.MoveToOuterDisposeScope();
    }
}
