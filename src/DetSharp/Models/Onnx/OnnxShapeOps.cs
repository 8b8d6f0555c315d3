using DetSharp.Models.Onnx.Proto;
using static DetSharp.Models.Onnx.OnnxGraphBuilder;

namespace DetSharp.Models.Onnx;

/// <summary>
/// The indexing and shape steps a detector's post-processing is written with (slicing, gathering, boolean selection,
/// dynamic shapes), beside the layer and element-wise writers of <see cref="OnnxExportContext"/>, so that the exports of
/// the proposal, RoI and NMS steps read as the libtorch code they mirror.
/// </summary>
public static class OnnxShapeOps
{
    /// <summary>A float32 vector constant.</summary>
    public static string Floats(this OnnxExportContext ctx, string name, params float[] values) => ctx.Graph.Initializer(name, values, [values.Length]);

    /// <summary>An int64 scalar constant (rank 0).</summary>
    public static string ScalarInt(this OnnxExportContext ctx, string name, long value) => ctx.Int64s(name, [value], scalar: true);

    /// <summary><c>x.shape[start:end]</c> as an int64 vector.</summary>
    public static string Shape(this OnnxExportContext ctx, string x, string name, long start = 0, long? end = null) =>
        end is { } e ? ctx.Graph.Node("Shape", [x], name, Attr("start", start), Attr("end", e))
            : ctx.Graph.Node("Shape", [x], name, Attr("start", start));

    /// <summary><c>[x.shape[dim]]</c>: a 1-element int64 vector, to concatenate into shapes.</summary>
    public static string Dim(this OnnxExportContext ctx, string x, long dim, string name) => ctx.Shape(x, name, dim, dim + 1);

    public static string Unsqueeze(this OnnxExportContext ctx, string x, string name, params long[] axes) =>
        ctx.Graph.Node("Unsqueeze", [x, ctx.Int64s($"{name}.axes", axes)], name);

    public static string Squeeze(this OnnxExportContext ctx, string x, string name, params long[] axes) =>
        ctx.Graph.Node("Squeeze", [x, ctx.Int64s($"{name}.axes", axes)], name);

    /// <summary><c>x[start:end]</c> along <paramref name="axis"/> (ONNX clamps the end, so <c>long.MaxValue</c> reads "to the end").</summary>
    public static string Slice(this OnnxExportContext ctx, string x, long axis, long start, long end, string name) =>
        ctx.Graph.Node("Slice", [x, ctx.Int64s($"{name}.starts", [start]), ctx.Int64s($"{name}.ends", [end]), ctx.Int64s($"{name}.axes", [axis])], name);

    /// <summary><c>x.index_select(axis, indices)</c>; a scalar index drops the axis.</summary>
    public static string Gather(this OnnxExportContext ctx, string x, string indices, long axis, string name) =>
        ctx.Graph.Node("Gather", [x, indices], name, Attr("axis", axis));

    /// <summary><c>x[:, column]</c> of a 2-D value, as a vector.</summary>
    public static string Column(this OnnxExportContext ctx, string x, long column, string name) =>
        ctx.Gather(x, ctx.ScalarInt($"{name}.index", column), 1, name);

    /// <summary><c>x[mask]</c> along axis 0 for a boolean vector <paramref name="mask"/>, order kept.</summary>
    public static string Compress(this OnnxExportContext ctx, string x, string mask, string name) =>
        ctx.Graph.Node("Compress", [x, mask], name, Attr("axis", 0L));

    public static string Cast(this OnnxExportContext ctx, string x, TensorProto.Types.DataType to, string name) =>
        ctx.Graph.Node("Cast", [x], name, Attr("to", (long)to));

    /// <summary><c>x.clamp(min, max)</c> with <paramref name="max"/> a value that broadcasts against x (an image's w, h, w, h).</summary>
    public static string ClampBetween(this OnnxExportContext ctx, string x, float min, string max, string name) =>
        ctx.Graph.Node("Min", [ctx.Graph.Node("Max", [x, ctx.Scalar($"{name}.min", min)], $"{name}.lower"), max], name);

    /// <summary><c>torch.full(like.shape, value)</c> for a float32 <paramref name="value"/>.</summary>
    public static string FullLike(this OnnxExportContext ctx, string like, float value, string name) =>
        ctx.Graph.Node("Expand", [ctx.Scalar($"{name}.value", value), ctx.Shape(like, $"{name}.shape")], name);

    /// <summary><c>torch.arange(n)</c> for an int64 scalar <paramref name="count"/>.</summary>
    public static string Range(this OnnxExportContext ctx, string count, string name) =>
        ctx.Graph.Node("Range", [ctx.ScalarInt($"{name}.start", 0), count, ctx.ScalarInt($"{name}.delta", 1)], name);

    /// <summary>
    /// The k of a TopK that keeps at most <paramref name="limit"/> of <paramref name="values"/>' first axis, min(limit,
    /// count) as an int64 [1]: a constant when <paramref name="count"/> is known (a fixed input size), else read from
    /// the values' shape in the graph (a dynamic export).
    /// </summary>
    public static string TopKCount(this OnnxExportContext ctx, string values, long limit, long? count, string name) =>
        count is { } c ? ctx.Int64s(name, [Math.Min(limit, c)])
            : ctx.Graph.Node("Min", [ctx.Dim(values, 0, $"{name}.count"), ctx.Int64s($"{name}.limit", [limit])], name);

    /// <summary>
    /// The positions of a prior grid over <paramref name="featmap"/> [N, C, H, W], from its shape in the graph: the
    /// float32 vectors x [H·W] = (j + offset)·stride_w and y [H·W] = (i + offset)·stride_h of cell (i, j), row-major (x
    /// fastest), as MMDetection's <c>_meshgrid</c> of the prior generators' shifts.
    /// </summary>
    public static (string X, string Y) GridShifts(this OnnxExportContext ctx, string featmap, float strideW, float strideH, float offset, string name)
    {
        string shape = ctx.Shape(featmap, $"{name}.shape");
        string Axis(long dim, float stride, string axis)
        {
            string count = ctx.Gather(shape, ctx.ScalarInt($"{name}.{axis}_dim", dim), 0, $"{name}.{axis}_count");
            string v = ctx.Cast(ctx.Range(count, $"{name}.{axis}_index"), TensorProto.Types.DataType.Float, $"{name}.{axis}_float");
            if (offset != 0) v = ctx.Add(v, ctx.Scalar($"{name}.{axis}_offset", offset), $"{name}.{axis}_centre");
            return ctx.Mul(v, ctx.Scalar($"{name}.{axis}_stride", stride), $"{name}.shift_{axis}");
        }
        string hw = ctx.Shape(featmap, $"{name}.hw", 2, 4);
        string xx = ctx.Graph.Node("Expand", [ctx.Unsqueeze(Axis(3, strideW, "x"), $"{name}.x_row", 0), hw], $"{name}.x_grid");
        string yy = ctx.Graph.Node("Expand", [ctx.Unsqueeze(Axis(2, strideH, "y"), $"{name}.y_col", 1), hw], $"{name}.y_grid");
        return (ctx.Reshape(xx, $"{name}.xx", -1), ctx.Reshape(yy, $"{name}.yy", -1));
    }
}
