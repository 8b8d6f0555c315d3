using System.Globalization;
using DetSharp.Models.Onnx;
using DetSharp.Registry;
using DetSharp.Utils;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.TaskModules;

/// <summary>
/// MMDetection's <c>AnchorGenerator</c> (2.x): per level, base anchors of size <c>base_size · scale</c> with aspect
/// ratios (h/w = ratio; h_ratio = √ratio, w_ratio = 1/h_ratio; scale-major order) centred at
/// <c>center_offset · base_size</c>, shifted over the feature grid by the stride (row-major positions, anchors
/// innermost). All in float32 like the reference.
/// </summary>
[Register(Registries.TaskModulesName, "AnchorGenerator")]
public class AnchorGenerator
{
    private readonly (int W, int H)[] _strides;
    private readonly Tensor[] _baseAnchors;

    public AnchorGenerator(
        object[] strides,
        double[] ratios,
        double[]? scales = null,
        double[]? baseSizes = null,
        bool scaleMajor = true,
        double? octaveBaseScale = null,
        int? scalesPerOctave = null,
        double[][]? centers = null,
        double centerOffset = 0)
        : this(legacy: false, strides, ratios, scales, baseSizes, scaleMajor, octaveBaseScale, scalesPerOctave, centers, centerOffset)
    {
    }

    /// <param name="legacy">MMDetection 1.x's box convention (<see cref="LegacyAnchorGenerator"/>).</param>
    protected AnchorGenerator(bool legacy, object[] strides, double[] ratios, double[]? scales, double[]? baseSizes, bool scaleMajor,
        double? octaveBaseScale, int? scalesPerOctave, double[][]? centers, double centerOffset)
    {
        _strides = ParseStrides(strides, legacy ? "LegacyAnchorGenerator" : "AnchorGenerator");
        if (centers is not null && centers.Length != _strides.Length)
            throw new DetSharpException("AnchorGenerator: centers must have one entry per stride.");
        if (centers is not null && centerOffset != 0)
            throw new DetSharpException("AnchorGenerator: center cannot be set when center_offset != 0.");
        if (baseSizes is not null && baseSizes.Length != _strides.Length)
            throw new DetSharpException("AnchorGenerator: base_sizes must have one entry per stride.");
        if (scales is not null == octaveBaseScale is not null)
            throw new DetSharpException("AnchorGenerator: exactly one of scales and octave_base_scale must be set.");
        if (octaveBaseScale is not null)
        {
            int n = scalesPerOctave ?? throw new DetSharpException("AnchorGenerator: scales_per_octave is required with octave_base_scale.");
            scales = Enumerable.Range(0, n).Select(i => Math.Pow(2, (double)i / n) * octaveBaseScale.Value).ToArray();
        }
        Ratios = ratios;
        Scales = scales!;
        var sizes = baseSizes ?? _strides.Select(s => (double)Math.Min(s.W, s.H)).ToArray();
        _baseAnchors = new Tensor[_strides.Length];
        for (int i = 0; i < _strides.Length; i++)
        {
            float w = (float)sizes[i];
            // 1.x boxes span w - 1 (their x2 is the last pixel, not one past it), so the centre is offset · (w − 1).
            double span = legacy ? w - 1 : w;
            var center = centers is null ? ((float)(centerOffset * span), (float)(centerOffset * span)) : ((float)centers[i][0], (float)centers[i][1]);
            _baseAnchors[i] = SingleLevelBaseAnchors(w, center, ratios, Scales, scaleMajor, legacy);
        }
    }

    /// <summary>For generators that compute their own base anchors per level (<see cref="SSDAnchorGenerator"/>).</summary>
    protected AnchorGenerator((int W, int H)[] strides, Tensor[] baseAnchors, double[] ratios, double[] scales)
    {
        _strides = strides;
        _baseAnchors = baseAnchors;
        Ratios = ratios;
        Scales = scales;
    }

    /// <summary>
    /// <c>gen_single_level_base_anchors</c>: anchors of size <paramref name="baseSize"/>·scale with h/w = ratio around
    /// <paramref name="center"/>, scale-major or ratio-major, in float32 like the reference. The result is detached from
    /// any dispose scope (the generator owns it). <paramref name="legacy"/>: MMDetection 1.x's corners, ±(size − 1)/2 around
    /// the centre, rounded to integers (<c>LegacyAnchorGenerator.gen_single_level_base_anchors</c>).
    /// </summary>
    protected static Tensor SingleLevelBaseAnchors(float baseSize, (float X, float Y) center, double[] ratios, double[] scales, bool scaleMajor,
        bool legacy = false)
    {
        using var scope = NewDisposeScope();
        float w = baseSize, h = baseSize;
        var (xc, yc) = center;
        var r = tensor(ratios.Select(x => (float)x).ToArray());
        var sc = tensor(scales.Select(x => (float)x).ToArray());
        var hRatios = sqrt(r);
        var wRatios = 1 / hRatios;
        Tensor ws, hs;
        if (scaleMajor)
        {
            ws = (w * wRatios[.., TensorIndex.None] * sc[TensorIndex.None, ..]).reshape(-1);
            hs = (h * hRatios[.., TensorIndex.None] * sc[TensorIndex.None, ..]).reshape(-1);
        }
        else
        {
            ws = (w * sc[.., TensorIndex.None] * wRatios[TensorIndex.None, ..]).reshape(-1);
            hs = (h * sc[.., TensorIndex.None] * hRatios[TensorIndex.None, ..]).reshape(-1);
        }
        if (legacy)
        {
            ws = ws - 1;
            hs = hs - 1;
        }
        var anchors = stack([xc - 0.5f * ws, yc - 0.5f * hs, xc + 0.5f * ws, yc + 0.5f * hs], -1);
        if (legacy) anchors = anchors.round();
        anchors = anchors.MoveToOuterDisposeScope();
        anchors.DetachFromDisposeScope();
        return anchors;
    }

    public double[] Ratios { get; }

    public double[] Scales { get; }

    /// <summary>The prior generators' <c>strides</c>: each an int or a (w, h) pair.</summary>
    internal static (int W, int H)[] ParseStrides(object strides, string owner) =>
        (strides as IEnumerable<object?> ?? throw new DetSharpException($"{owner}: strides must be a list, got {strides}.")).Select(s => s switch
        {
            long l => ((int)l, (int)l),
            int i => (i, i),
            IList<object?> pair when pair.Count == 2 => (Convert.ToInt32(pair[0], System.Globalization.CultureInfo.InvariantCulture),
                Convert.ToInt32(pair[1], System.Globalization.CultureInfo.InvariantCulture)),
            _ => throw new DetSharpException($"{owner}: a stride must be an int or (w, h), got {s}."),
        }).ToArray();

    public int NumLevels => _strides.Length;

    /// <summary>Anchors per location on each level.</summary>
    public int[] NumBaseAnchors => _baseAnchors.Select(b => (int)b.shape[0]).ToArray();

    /// <summary>(w, h) stride of each level.</summary>
    public IReadOnlyList<(int W, int H)> Strides => _strides;

    /// <summary>The base anchors of a level (<c>base_anchors[i]</c>), [A, 4].</summary>
    public Tensor BaseAnchors(int level) => _baseAnchors[level];

    /// <summary><c>grid_priors</c>: per level [H·W·A, 4] anchors (x1, y1, x2, y2).</summary>
    public Tensor[] GridPriors(IReadOnlyList<(long H, long W)> featmapSizes, Device? device = null)
    {
        using var timed = Profiler.Scope(ProfilerSections.DenseHeadAnchors);
        var result = new Tensor[featmapSizes.Count];
        for (int i = 0; i < featmapSizes.Count; i++)
        {
            using var scope = NewDisposeScope();
            var (fh, fw) = featmapSizes[i];
            var shiftX = arange(0, fw, dtype: ScalarType.Float32, device: device) * _strides[i].W;
            var shiftY = arange(0, fh, dtype: ScalarType.Float32, device: device) * _strides[i].H;
            var xx = shiftX.repeat(fh);
            var yy = shiftY.view(-1, 1).repeat(1, fw).view(-1);
            var shifts = stack([xx, yy, xx, yy], -1);
            var anchors = _baseAnchors[i].to(device ?? CPU)[TensorIndex.None, .., ..] + shifts[.., TensorIndex.None, ..];
            result[i] = anchors.view(-1, 4).MoveToOuterDisposeScope();
        }
        return result;
    }

    /// <summary>
    /// <see cref="GridPriors"/> of <paramref name="level"/> as ONNX nodes, from the level's map [1, C, H, W] in the
    /// graph (any size): the base anchors (a constant) plus the grid shifts (x, y, x, y), anchors innermost, [H·W·A, 4].
    /// </summary>
    public string ExportGridPriors(OnnxExportContext ctx, string featmap, int level, string name)
    {
        var (x, y) = ctx.GridShifts(featmap, _strides[level].W, _strides[level].H, 0f, name);
        string shifts = ctx.Unsqueeze(ctx.Concat([ctx.Unsqueeze(x, $"{name}.x1", 1), ctx.Unsqueeze(y, $"{name}.y1", 1), ctx.Unsqueeze(x, $"{name}.x2", 1),
            ctx.Unsqueeze(y, $"{name}.y2", 1)], $"{name}.shifts", 1), $"{name}.shifts3d", 1);
        // [A, 4] + [H·W, 1, 4] broadcasts to [H·W, A, 4], as base_anchors[None] + shifts[:, None].
        string anchors = ctx.Add(ctx.Constant($"{name}.base_anchors", _baseAnchors[level]), shifts, $"{name}.grid");
        return ctx.Reshape(anchors, name, -1, 4);
    }

    /// <summary><c>valid_flags</c>: per level [H·W·A] bools, true where the location lies inside <paramref name="padShape"/>.</summary>
    public Tensor[] ValidFlags(IReadOnlyList<(long H, long W)> featmapSizes, (int Height, int Width) padShape, Device? device = null)
    {
        using var timed = Profiler.Scope(ProfilerSections.DenseHeadAnchors);
        var result = new Tensor[featmapSizes.Count];
        for (int i = 0; i < featmapSizes.Count; i++)
        {
            using var scope = NewDisposeScope();
            var (fh, fw) = featmapSizes[i];
            long vh = Math.Min((long)Math.Ceiling(padShape.Height / (double)_strides[i].H), fh);
            long vw = Math.Min((long)Math.Ceiling(padShape.Width / (double)_strides[i].W), fw);
            var validX = zeros(fw, ScalarType.Bool, device);
            validX[..(int)vw] = true;
            var validY = zeros(fh, ScalarType.Bool, device);
            validY[..(int)vh] = true;
            var xx = validX.repeat(fh);
            var yy = validY.view(-1, 1).repeat(1, fw).view(-1);
            var valid = (xx & yy);
            int a = NumBaseAnchors[i];
            result[i] = valid[.., TensorIndex.None].expand(valid.shape[0], a).contiguous().view(-1).MoveToOuterDisposeScope();
        }
        return result;
    }
}
