using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn.functional;

namespace DetSharp.Ops;

/// <summary>
/// mmcv's <c>deform_roi_pool(input, rois, offset, output_size, spatial_scale, sampling_ratio, gamma)</c>: aligned
/// average RoIAlign (start at <c>x1 · scale − 0.5</c>, bin grid <c>sampling_ratio</c> or <c>ceil(roi_size / bins)</c>) whose
/// bin (ph, pw) is shifted by <c>gamma · roi_width · offset[k, 0, ph, pw]</c> along x and
/// <c>gamma · roi_height · offset[k, 1, ph, pw]</c> along y. Without an offset it is exactly <see cref="RoIAlign"/>
/// (aligned, avg) and runs that op. With one, the samples are taken by grid_sample with the clamping and masking of
/// <see cref="RoIAlignGridSample"/> (samples outside [-1, H] × [-1, W] count 0, the rest are clamped to the map), so
/// autograd gives the gradients for the input and the offset. The offset's gradient is the exact derivative of this
/// forward: where a sample is clamped to the map's border it is 0, where mmcv's CUDA kernel extrapolates the
/// interior formula. The RoIs get no gradient, as in mmcv.
/// </summary>
public static class DeformRoIPool
{
    /// <summary>Pools <paramref name="rois"/> [K, 5] from <paramref name="input"/> [N, C, H, W] into [K, C, PH, PW].</summary>
    /// <param name="offset">[K, 2, PH, PW] (x then y, in units of the RoI's size times <paramref name="gamma"/>), or null.</param>
    public static Tensor Apply(Tensor input, Tensor rois, Tensor? offset, int outputHeight, int outputWidth, double spatialScale,
        int samplingRatio, double gamma)
    {
        var o = new RoIAlignOptions(outputHeight, outputWidth, (float)spatialScale, samplingRatio, RoIAlignPoolMode.Avg, Aligned: true);
        if (offset is null || offset.numel() == 0) return RoIAlign.Apply(input, rois, o);
        o.Validate();
        RoIAlign.CheckShapes(input, rois);
        long k = rois.shape[0];
        int ph = outputHeight, pw = outputWidth;
        if (offset.dim() != 4 || offset.shape[0] != k || offset.shape[1] != 2 || offset.shape[2] != ph || offset.shape[3] != pw)
            throw new ArgumentException($"DeformRoIPool: offset must be [K, 2, PH, PW] = [{k}, 2, {ph}, {pw}], got [{string.Join(", ", offset.shape)}].");
        using var scope = NewDisposeScope();
        long n = input.shape[0], c = input.shape[1], h = input.shape[2], w = input.shape[3];
        var dtype = input.dtype;
        var device = input.device;
        if (k == 0) return zeros([0, c, ph, pw], dtype, device).MoveToOuterDisposeScope();

        var r = rois.detach().to(dtype, device);
        var batchIdx = r[.., 0].to_type(ScalarType.Int64);
        var startW = r[.., 1] * spatialScale - 0.5;
        var startH = r[.., 2] * spatialScale - 0.5;
        var roiW = r[.., 3] * spatialScale - 0.5 - startW;
        var roiH = r[.., 4] * spatialScale - 0.5 - startH;
        if ((roiW < 0).any().item<bool>() || (roiH < 0).any().item<bool>())
            throw new ArgumentException("DeformRoIPool: a RoI has a negative size.");
        var binW = roiW / pw;
        var binH = roiH / ph;
        Tensor gridW, gridH;
        if (samplingRatio > 0)
        {
            gridW = full(k, samplingRatio, dtype, device);
            gridH = full(k, samplingRatio, dtype, device);
        }
        else
        {
            gridW = binW.ceil();
            gridH = binH.ceil();
        }
        int maxGw = (int)gridW.max().to_type(ScalarType.Float64).item<double>(), maxGh = (int)gridH.max().to_type(ScalarType.Float64).item<double>();
        if (maxGw == 0 || maxGh == 0)
            return (zeros([k, c, ph, pw], dtype, device) + 0 * (input.sum() + offset.sum())).MoveToOuterDisposeScope();

        // The shifted start of each bin [K, PH, PW], then the samples, in the kernel's order of operations.
        var off = offset.to(dtype, device);
        var binStartW = startW.view(-1, 1, 1) + gamma * roiW.view(-1, 1, 1) * off[.., 0];
        var binStartH = startH.view(-1, 1, 1) + gamma * roiH.view(-1, 1, 1) * off[.., 1];
        var (xs, xIn) = Samples(binStartW, binW, gridW, pw, maxGw, axis: 2, dtype, device); // [K, PH, PW, GW]
        var (ys, yIn) = Samples(binStartH, binH, gridH, ph, maxGh, axis: 1, dtype, device); // [K, PH, PW, GH]
        var xValid = (xs >= -1.0).logical_and(xs <= (double)w).logical_and(xIn);
        var yValid = (ys >= -1.0).logical_and(ys <= (double)h).logical_and(yIn);
        var xNorm = xs.clamp(0.0, w - 1) * (2.0 / Math.Max(w - 1, 1)) - 1.0;
        var yNorm = ys.clamp(0.0, h - 1) * (2.0 / Math.Max(h - 1, 1)) - 1.0;
        var count = (gridH * gridW).clamp_min(1.0).view(-1, 1, 1, 1);

        var pooled = zeros([k, c, ph, pw], dtype, device);
        var zero = zeros(1, dtype, device);
        for (long b = 0; b < n; b++)
        {
            var sel = (batchIdx == b).nonzero().view(-1);
            long kb = sel.shape[0];
            if (kb == 0) continue;
            var gx = xNorm.index_select(0, sel).view(kb, ph, pw, 1, maxGw).expand(kb, ph, pw, maxGh, maxGw);
            var gy = yNorm.index_select(0, sel).view(kb, ph, pw, maxGh, 1).expand(kb, ph, pw, maxGh, maxGw);
            var grid = stack([gx, gy], -1).reshape(1, kb * ph * pw * maxGh, maxGw, 2);
            var sampled = grid_sample(input.narrow(0, b, 1), grid, GridSampleMode.Bilinear, GridSamplePaddingMode.Border, true)
                .view(c, kb, ph, pw, maxGh, maxGw)
                .permute(1, 0, 2, 3, 4, 5); // [Kb, C, PH, PW, GH, GW]
            var valid = yValid.index_select(0, sel).view(kb, 1, ph, pw, maxGh, 1)
                .logical_and(xValid.index_select(0, sel).view(kb, 1, ph, pw, 1, maxGw));
            var sum = where(valid, sampled, zero).sum([4, 5]);
            pooled = pooled.index_copy(0, sel, sum / count.index_select(0, sel));
        }
        return pooled.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Sample coordinates along one axis, [K, PH, PW, G]: <c>binStart + p · bin + (i + .5) · bin / grid</c> where p is the
    /// bin index along <paramref name="axis"/> (1 = PH, 2 = PW); also whether i lies inside the RoI's own grid.
    /// </summary>
    private static (Tensor Coords, Tensor InGrid) Samples(Tensor binStart, Tensor bin, Tensor grid, int bins, int maxGrid, int axis,
        ScalarType dtype, Device device)
    {
        var p = arange(bins, dtype, device).view(axis == 1 ? [1, bins, 1, 1] : [1, 1, bins, 1]);
        var i = arange(maxGrid, dtype, device).view(1, 1, 1, maxGrid);
        var b = bin.view(-1, 1, 1, 1);
        var coords = binStart.unsqueeze(-1) + p * b + (i + 0.5) * b / grid.clamp_min(1.0).view(-1, 1, 1, 1);
        var inGrid = (i < grid.view(-1, 1, 1, 1)).expand(coords.shape);
        return (coords, inGrid);
    }
}
