using DetSharp.Models.Onnx;
using DetSharp.Registry;
using static TorchSharp.torch;

namespace DetSharp.Models.TaskModules;

/// <summary>
/// MMDetection's <c>MlvlPointGenerator</c>: the prior points of point-based heads, one per feature-map position and
/// level, at <c>((x + offset)·stride_w, (y + offset)·stride_h)</c> (offset 0.5: the cell centres), row-major; with
/// <c>withStride</c> each point also carries its level's strides (x, y, stride_w, stride_h).
/// </summary>
[Register(Registries.TaskModulesName, "MlvlPointGenerator")]
public sealed class MlvlPointGenerator
{
    private readonly (int W, int H)[] _strides;

    public MlvlPointGenerator(object strides, double offset = 0.5)
    {
        _strides = AnchorGenerator.ParseStrides(strides, "MlvlPointGenerator");
        Offset = offset;
    }

    public double Offset { get; }

    public int NumLevels => _strides.Length;

    public IReadOnlyList<(int W, int H)> Strides => _strides;

    /// <summary>One prior per position (<c>num_base_priors</c>).</summary>
    public int[] NumBasePriors => Enumerable.Repeat(1, _strides.Length).ToArray();

    /// <summary>Per level the points [H·W, 2] (or [H·W, 4] with strides).</summary>
    public Tensor[] GridPriors(IReadOnlyList<(long H, long W)> featmapSizes, Device? device = null, bool withStride = false)
    {
        if (featmapSizes.Count != _strides.Length)
            throw new ArgumentException($"MlvlPointGenerator has {_strides.Length} levels, got {featmapSizes.Count} feature maps.");
        var result = new Tensor[featmapSizes.Count];
        for (int l = 0; l < featmapSizes.Count; l++)
        {
            using var scope = NewDisposeScope();
            var (h, w) = featmapSizes[l];
            var (sw, sh) = _strides[l];
            var shiftX = (arange(w, ScalarType.Float32, device) + Offset) * sw;
            var shiftY = (arange(h, ScalarType.Float32, device) + Offset) * sh;
            var xx = shiftX.repeat(h);
            var yy = shiftY.view(-1, 1).repeat(1, w).view(-1);
            var points = withStride
                ? stack([xx, yy, full_like(xx, sw), full_like(yy, sh)], -1)
                : stack([xx, yy], -1);
            result[l] = points.MoveToOuterDisposeScope();
        }
        return result;
    }

    /// <summary>
    /// <see cref="GridPriors"/> of <paramref name="level"/> as ONNX nodes, from the level's map [1, C, H, W] in the graph
    /// (any size): the points [H·W, 2], or with <paramref name="withStride"/> [H·W, 4] (x, y, stride_w, stride_h).
    /// </summary>
    public string ExportGridPriors(OnnxExportContext ctx, string featmap, int level, string name, bool withStride = false)
    {
        var (sw, sh) = _strides[level];
        var (x, y) = ctx.GridShifts(featmap, sw, sh, (float)Offset, name);
        var columns = new List<string> { ctx.Unsqueeze(x, $"{name}.x", 1), ctx.Unsqueeze(y, $"{name}.y", 1) };
        if (withStride)
        {
            columns.Add(ctx.FullLike(columns[0], sw, $"{name}.stride_w"));
            columns.Add(ctx.FullLike(columns[0], sh, $"{name}.stride_h"));
        }
        return ctx.Concat(columns, name, 1);
    }
}
