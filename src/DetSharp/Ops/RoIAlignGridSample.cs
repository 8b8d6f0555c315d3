using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn.functional;

namespace DetSharp.Ops;

/// <summary>
/// RoIAlign written with tensor ops (grid_sample), for devices without the C# kernel (CUDA). Same semantics as
/// mmcv and <see cref="RoIAlignCpuKernel"/>: sample coordinates are computed in the same order of float operations,
/// samples outside [-1, H] x [-1, W] are masked to 0, the rest are clamped to [0, H-1] x [0, W-1] (border padding,
/// align_corners=True, so the clamp reproduces mmcv's "clamp to 0 below, edge at the last row/col"). With adaptive
/// sampling each RoI has its own grid size: the grid is padded to the largest and the extra samples are masked out.
/// Autograd comes from the tensor ops themselves.
/// </summary>
public static class RoIAlignGridSample
{
    /// <summary>Pools <paramref name="rois"/> [K, 5] from <paramref name="input"/> [N, C, H, W] into [K, C, PH, PW].</summary>
    public static Tensor Apply(Tensor input, Tensor rois, RoIAlignOptions o)
    {
        o.Validate();
        RoIAlign.CheckShapes(input, rois);
        using var scope = NewDisposeScope();
        long n = input.shape[0], c = input.shape[1], h = input.shape[2], w = input.shape[3];
        long k = rois.shape[0];
        int ph = o.OutputHeight, pw = o.OutputWidth;
        var dtype = input.dtype;
        var device = input.device;
        if (k == 0)
        {
            return zeros(new long[] { 0, c, ph, pw }, dtype, device).MoveToOuterDisposeScope();
        }

        var r = rois.to(dtype, device);
        var offset = o.Aligned ? 0.5 : 0.0;
        var batchIdx = r[.., 0].to_type(ScalarType.Int64);
        var startW = r[.., 1] * o.SpatialScale - offset;
        var startH = r[.., 2] * o.SpatialScale - offset;
        var endW = r[.., 3] * o.SpatialScale - offset;
        var endH = r[.., 4] * o.SpatialScale - offset;
        var roiW = endW - startW;
        var roiH = endH - startH;
        if (!o.Aligned)
        {
            roiW = roiW.clamp_min(1.0);
            roiH = roiH.clamp_min(1.0);
        }
        else if ((roiW < 0).any().item<bool>() || (roiH < 0).any().item<bool>())
        {
            throw new ArgumentException("RoIAlign: a RoI has a negative size.");
        }

        var binH = roiH / ph;
        var binW = roiW / pw;
        Tensor gridH, gridW;
        int maxGh, maxGw;
        if (o.SamplingRatio > 0)
        {
            gridH = full(k, o.SamplingRatio, dtype, device);
            gridW = full(k, o.SamplingRatio, dtype, device);
            maxGh = maxGw = o.SamplingRatio;
        }
        else
        {
            gridH = (roiH / ph).ceil();
            gridW = (roiW / pw).ceil();
            maxGh = (int)gridH.max().item<float>();
            maxGw = (int)gridW.max().item<float>();
        }

        if (maxGh == 0 || maxGw == 0)
        {
            // Every bin is empty: mmcv outputs 0 (avg) or its initial -10000 (max).
            var fill = o.Mode == RoIAlignPoolMode.Avg ? 0.0 : -10000.0;
            return (full(new long[] { k, c, ph, pw }, fill, dtype, device) + 0 * input.sum()).MoveToOuterDisposeScope();
        }

        // Sample coordinates, same float operation order as the kernel: start + p * bin + (i + .5) * bin / grid.
        var (ys, yIn) = Coordinates(startH, binH, gridH, ph, maxGh, dtype, device); // [K, PH, GH]
        var (xs, xIn) = Coordinates(startW, binW, gridW, pw, maxGw, dtype, device); // [K, PW, GW]
        var yValid = (ys >= -1.0).logical_and(ys <= (double)h).logical_and(yIn);
        var xValid = (xs >= -1.0).logical_and(xs <= (double)w).logical_and(xIn);
        var yNorm = ys.clamp(0.0, h - 1) * (2.0 / Math.Max(h - 1, 1)) - 1.0;
        var xNorm = xs.clamp(0.0, w - 1) * (2.0 / Math.Max(w - 1, 1)) - 1.0;

        var outputs = new List<Tensor>();
        var order = new List<Tensor>();
        for (long b = 0; b < n; b++)
        {
            Tensor sel;
            if (n == 1)
            {
                sel = arange(k, ScalarType.Int64, device);
            }
            else
            {
                sel = (batchIdx == b).nonzero().view(-1);
                if (sel.shape[0] == 0)
                {
                    continue;
                }
            }

            long kb = sel.shape[0];
            var gy = yNorm.index_select(0, sel).view(kb, ph, maxGh, 1, 1).expand(kb, ph, maxGh, pw, maxGw);
            var gx = xNorm.index_select(0, sel).view(kb, 1, 1, pw, maxGw).expand(kb, ph, maxGh, pw, maxGw);
            var grid = stack(new[] { gx, gy }, -1).reshape(1, kb * ph * maxGh, pw * maxGw, 2);
            var sampled = grid_sample(input.narrow(0, b, 1), grid, GridSampleMode.Bilinear, GridSamplePaddingMode.Border, true)
                .view(c, kb, ph, maxGh, pw, maxGw)
                .permute(1, 0, 2, 4, 3, 5); // [Kb, C, PH, PW, GH, GW]
            var valid = yValid.index_select(0, sel).view(kb, 1, ph, 1, maxGh, 1)
                .logical_and(xValid.index_select(0, sel).view(kb, 1, 1, pw, 1, maxGw));
            var inGrid = yIn.index_select(0, sel).view(kb, 1, ph, 1, maxGh, 1)
                .logical_and(xIn.index_select(0, sel).view(kb, 1, 1, pw, 1, maxGw));
            Tensor pooled;
            var zero = zeros(1, dtype, device);
            if (o.Mode == RoIAlignPoolMode.Avg)
            {
                var count = (gridH.index_select(0, sel) * gridW.index_select(0, sel)).clamp_min(1.0).view(kb, 1, 1, 1);
                pooled = where(valid, sampled, zero).sum(new long[] { 4, 5 }) / count;
            }
            else
            {
                // Out-of-map samples count as value 0; padding samples (beyond this RoI's grid) do not count.
                var vals = where(valid, sampled, zero);
                vals = where(inGrid, vals, full(1, double.NegativeInfinity, dtype, device));
                pooled = vals.flatten(4).amax(new long[] { 4 }).clamp_min(-10000.0);
            }

            outputs.Add(pooled);
            order.Add(sel);
        }

        var result = outputs.Count == 1 ? outputs[0] : cat(outputs, 0);
        if (n > 1)
        {
            var inverse = cat(order, 0).argsort();
            result = result.index_select(0, inverse);
        }

        return result.contiguous().MoveToOuterDisposeScope();
    }

    private static (Tensor Coords, Tensor InGrid) Coordinates(Tensor start, Tensor bin, Tensor grid, int bins, int maxGrid, ScalarType dtype, Device device)
    {
        var p = arange(bins, dtype, device).view(1, bins, 1);
        var i = arange(maxGrid, dtype, device).view(1, 1, maxGrid);
        var g = grid.clamp_min(1.0).view(-1, 1, 1);
        var b = bin.view(-1, 1, 1);
        var coords = start.view(-1, 1, 1) + p * b + (i + 0.5) * b / g;
        var inGrid = i < grid.view(-1, 1, 1);
        return (coords, inGrid.expand(coords.shape));
    }
}
