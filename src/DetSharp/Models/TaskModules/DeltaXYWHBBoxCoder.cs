using DetSharp.Models.Onnx;
using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.TaskModules;

/// <summary>Encodes boxes as regression targets and decodes predictions back (MMDetection's box coders).</summary>
public interface IBBoxCoder
{
    /// <summary>The regression targets of <paramref name="gtBboxes"/> ([N, 4]) relative to <paramref name="priors"/> (anchors or boxes [N, 4], points [N, 2]).</summary>
    Tensor Encode(Tensor priors, Tensor gtBboxes);

    /// <summary>Boxes from the regression <paramref name="pred"/> ([N, 4·k]) around <paramref name="priors"/>, clipped to <paramref name="maxShape"/> (h, w) when given.</summary>
    Tensor Decode(Tensor priors, Tensor pred, (int Height, int Width)? maxShape = null);
}

/// <summary>
/// MMDetection's <c>DeltaXYWHBBoxCoder</c>: <c>bbox2delta</c> = ((gx−px)/pw, (gy−py)/ph, log(gw/pw), log(gh/ph)),
/// normalised by <c>target_means</c>/<c>target_stds</c>; <c>delta2bbox</c> denormalises, clamps dw/dh to
/// ±|log(wh_ratio_clip)| (default 16/1000), optionally clamps the centre shift (<c>add_ctr_clamp</c>, <c>ctr_clamp</c>),
/// and clips to the image (<c>clip_border</c>) with x in [0, w], y in [0, h].
/// </summary>
[Register(Registries.TaskModulesName, "DeltaXYWHBBoxCoder")]
public sealed class DeltaXYWHBBoxCoder : IBBoxCoder, IOnnxBBoxCoder
{
    private readonly float[] _means;
    private readonly float[] _stds;

    public DeltaXYWHBBoxCoder(double[]? targetMeans = null, double[]? targetStds = null, bool clipBorder = true,
        bool addCtrClamp = false, double ctrClamp = 32, double whRatioClip = 16.0 / 1000)
    {
        _means = (targetMeans ?? [0, 0, 0, 0]).Select(v => (float)v).ToArray();
        _stds = (targetStds ?? [1, 1, 1, 1]).Select(v => (float)v).ToArray();
        if (_means.Length != 4 || _stds.Length != 4) throw new DetSharpException("DeltaXYWHBBoxCoder: target_means and target_stds need 4 values.");
        ClipBorder = clipBorder;
        AddCtrClamp = addCtrClamp;
        CtrClamp = ctrClamp;
        WhRatioClip = whRatioClip;
    }

    public bool ClipBorder { get; }

    public bool AddCtrClamp { get; }

    public double CtrClamp { get; }

    public double WhRatioClip { get; }

    public Tensor Encode(Tensor priors, Tensor gtBboxes)
    {
        using var scope = NewDisposeScope();
        var p = priors.to_type(ScalarType.Float32);
        var g = gtBboxes.to_type(ScalarType.Float32);
        var px = (p[.., 0] + p[.., 2]) * 0.5f;
        var py = (p[.., 1] + p[.., 3]) * 0.5f;
        var pw = p[.., 2] - p[.., 0];
        var ph = p[.., 3] - p[.., 1];
        var gx = (g[.., 0] + g[.., 2]) * 0.5f;
        var gy = (g[.., 1] + g[.., 3]) * 0.5f;
        var gw = g[.., 2] - g[.., 0];
        var gh = g[.., 3] - g[.., 1];
        var deltas = stack([(gx - px) / pw, (gy - py) / ph, log(gw / pw), log(gh / ph)], -1);
        var means = tensor(_means, device: deltas.device).unsqueeze(0);
        var stds = tensor(_stds, device: deltas.device).unsqueeze(0);
        return deltas.sub(means).div(stds).MoveToOuterDisposeScope();
    }

    public Tensor Decode(Tensor priors, Tensor pred, (int Height, int Width)? maxShape = null)
    {
        long n = pred.shape[0];
        if (n == 0) return pred.alias();
        using var scope = NewDisposeScope();
        long k = pred.shape[1] / 4;
        var d = pred.reshape(-1, 4);
        var means = tensor(_means, device: d.device).view(1, -1);
        var stds = tensor(_stds, device: d.device).view(1, -1);
        var denorm = d * stds + means;
        var dxy = denorm[.., 0..2];
        var dwh = denorm[.., 2..4];
        var rois = priors.repeat(1, k).reshape(-1, 4);
        var pxy = (rois[.., 0..2] + rois[.., 2..4]) * 0.5f;
        var pwh = rois[.., 2..4] - rois[.., 0..2];
        var dxyWh = pwh * dxy;
        double maxRatio = Math.Abs(Math.Log(WhRatioClip));
        if (AddCtrClamp)
        {
            dxyWh = dxyWh.clamp(-CtrClamp, CtrClamp);
            dwh = dwh.clamp(max: maxRatio);
        }
        else
        {
            dwh = dwh.clamp(-maxRatio, maxRatio);
        }
        var gxy = pxy + dxyWh;
        var gwh = pwh * dwh.exp();
        var x1y1 = gxy - gwh * 0.5f;
        var x2y2 = gxy + gwh * 0.5f;
        var boxes = cat([x1y1, x2y2], -1);
        if (ClipBorder && maxShape is { } s)
        {
            var x = boxes[.., TensorIndex.Slice(0, null, 2)].clamp(0, s.Width);
            var y = boxes[.., TensorIndex.Slice(1, null, 2)].clamp(0, s.Height);
            boxes = stack([x[.., 0], y[.., 0], x[.., 1], y[.., 1]], -1);
        }
        return boxes.reshape(n, -1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// <see cref="Decode"/> as ONNX nodes on values whose last dimension is 4 (broadcasting: priors [N, 4] with
    /// deltas [N, 4], or priors [N, 1, 4] with deltas [N, k, 4]); clipped to <paramref name="boxMax"/> ((w, h, w, h),
    /// [4]) when given and <c>clip_border</c>.
    /// </summary>
    public string ExportDecode(OnnxExportContext ctx, string priors, string pred, string? boxMax, string name)
    {
        var g = ctx.Graph;
        string Slice(string x, long from, long to, string what) =>
            g.Node("Slice", [x, ctx.Int64s($"{name}.{what}.starts", [from]), ctx.Int64s($"{name}.{what}.ends", [to]), ctx.Int64s($"{name}.{what}.axes", [-1])],
                $"{name}.{what}");
        string denorm = ctx.Add(ctx.Mul(pred, g.Initializer(name + ".stds", _stds, [4]), name + ".scaled"), g.Initializer(name + ".means", _means, [4]),
            name + ".denorm");
        string dxy = Slice(denorm, 0, 2, "dxy"), dwh = Slice(denorm, 2, 4, "dwh");
        string p1 = Slice(priors, 0, 2, "p1"), p2 = Slice(priors, 2, 4, "p2");
        string pxy = ctx.Mul(ctx.Add(p1, p2, name + ".psum"), ctx.Scalar(name + ".half", 0.5f), name + ".pxy");
        string pwh = ctx.Sub(p2, p1, name + ".pwh");
        string dxyWh = ctx.Mul(pwh, dxy, name + ".dxy_wh");
        float maxRatio = (float)Math.Abs(Math.Log(WhRatioClip));
        if (AddCtrClamp)
        {
            dxyWh = g.Node("Clip", [dxyWh, ctx.Scalar(name + ".ctr_min", (float)-CtrClamp), ctx.Scalar(name + ".ctr_max", (float)CtrClamp)], name + ".dxy_wh_clamped");
            dwh = g.Node("Clip", [dwh, "", ctx.Scalar(name + ".ratio_max", maxRatio)], name + ".dwh_clamped");
        }
        else
        {
            dwh = g.Node("Clip", [dwh, ctx.Scalar(name + ".ratio_min", -maxRatio), ctx.Scalar(name + ".ratio_max", maxRatio)], name + ".dwh_clamped");
        }
        string gxy = ctx.Add(pxy, dxyWh, name + ".gxy");
        string halfWh = ctx.Mul(ctx.Mul(pwh, g.Node("Exp", [dwh], name + ".exp"), name + ".gwh"), ctx.Scalar(name + ".half_wh", 0.5f), name + ".half_gwh");
        string boxes = ctx.Concat([ctx.Sub(gxy, halfWh, name + ".x1y1"), ctx.Add(gxy, halfWh, name + ".x2y2")], name + ".boxes", -1);
        if (!ClipBorder || boxMax is null) return boxes;
        // torch's clamp(0, max): max(x, 0) first, then min(x, max).
        return g.Node("Min", [g.Node("Max", [boxes, ctx.Scalar(name + ".zero", 0f)], name + ".clip_low"), boxMax], name);
    }
}
