using DetSharp.Models.Onnx;
using DetSharp.Registry;
using static TorchSharp.torch;

namespace DetSharp.Models.TaskModules;

/// <summary>
/// MMDetection's <c>DistancePointBBoxCoder</c> (FCOS, ATSS-style point heads): a box as its distances (left, top, right,
/// bottom) from a point. Encode: <c>bbox2distance</c>, clamped to [0, max_dis − eps] when a maximum is given; decode:
/// <c>distance2bbox</c>, clipped to the image (h, w) when <c>clip_border</c>.
/// </summary>
[Register(Registries.TaskModulesName, "DistancePointBBoxCoder")]
public sealed class DistancePointBBoxCoder(bool clipBorder = true) : IBBoxCoder, IOnnxBBoxCoder
{
    public bool ClipBorder { get; } = clipBorder;

    /// <summary><c>bbox2distance</c> of [N, 4] boxes from [N, 2] points.</summary>
    public Tensor Encode(Tensor priors, Tensor gtBboxes) => Encode(priors, gtBboxes, null);

    public static Tensor Encode(Tensor points, Tensor gtBboxes, double? maxDis, double eps = 0.1)
    {
        var left = points[.., 0] - gtBboxes[.., 0];
        var top = points[.., 1] - gtBboxes[.., 1];
        var right = gtBboxes[.., 2] - points[.., 0];
        var bottom = gtBboxes[.., 3] - points[.., 1];
        var d = stack([left, top, right, bottom], -1);
        return maxDis is { } m ? d.clamp(0, m - eps) : d;
    }

    /// <summary><c>distance2bbox</c>: boxes from [N, 2] prior points and [N, 4] predicted distances.</summary>
    public Tensor Decode(Tensor priors, Tensor pred, (int Height, int Width)? maxShape = null)
    {
        var x1 = priors[.., 0] - pred[.., 0];
        var y1 = priors[.., 1] - pred[.., 1];
        var x2 = priors[.., 0] + pred[.., 2];
        var y2 = priors[.., 1] + pred[.., 3];
        if (ClipBorder && maxShape is { } s)
        {
            x1 = x1.clamp(0, s.Width);
            y1 = y1.clamp(0, s.Height);
            x2 = x2.clamp(0, s.Width);
            y2 = y2.clamp(0, s.Height);
        }
        return stack([x1, y1, x2, y2], -1);
    }

    /// <summary><see cref="Decode"/> as ONNX nodes: points [N, 2+] and distances (left, top, right, bottom) [N, 4].</summary>
    public string ExportDecode(OnnxExportContext ctx, string priors, string pred, string? boxMax, string name)
    {
        var g = ctx.Graph;
        string Slice(string x, long from, long to, string what) =>
            g.Node("Slice", [x, ctx.Int64s($"{name}.{what}.starts", [from]), ctx.Int64s($"{name}.{what}.ends", [to]), ctx.Int64s($"{name}.{what}.axes", [-1])],
                $"{name}.{what}");
        string points = Slice(priors, 0, 2, "points");
        string boxes = ctx.Concat([ctx.Sub(points, Slice(pred, 0, 2, "lt"), name + ".x1y1"), ctx.Add(points, Slice(pred, 2, 4, "rb"), name + ".x2y2")],
            name + ".boxes", -1);
        if (!ClipBorder || boxMax is null) return boxes;
        return g.Node("Min", [g.Node("Max", [boxes, ctx.Scalar(name + ".zero", 0f)], name + ".clip_low"), boxMax], name);
    }
}
