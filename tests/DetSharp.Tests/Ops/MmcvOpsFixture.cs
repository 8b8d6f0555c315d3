using System.Text.Json;
using DetSharp.Ops;
using static TorchSharp.torch;

namespace DetSharp.Tests.Ops;

/// <summary>Reads <c>fixtures/mmdet/ops/mmcv_ops.json</c> (see its README for how each number was made).</summary>
internal static class MmcvOpsFixture
{
    public const string Path = "fixtures/mmdet/ops/mmcv_ops.json";

    private static readonly Lazy<JsonElement> Root = new(() => SharedData.LoadJson(Path).RootElement.Clone());

    public static JsonElement Json => Root.Value;

    public static float[] Floats(JsonElement e) => e.EnumerateArray().Select(v => v.GetSingle()).ToArray();

    public static long[] Longs(JsonElement e) => e.EnumerateArray().Select(v => v.GetInt64()).ToArray();

    public static float[] Flatten(JsonElement e)
    {
        var list = new List<float>();
        void Walk(JsonElement x)
        {
            if (x.ValueKind == JsonValueKind.Array)
            {
                foreach (var y in x.EnumerateArray())
                {
                    Walk(y);
                }
            }
            else
            {
                list.Add(x.GetSingle());
            }
        }

        Walk(e);
        return list.ToArray();
    }

    /// <summary>The seeded 1×4×12×16 feature map and the 6 RoIs <c>[batch, x1, y1, x2, y2]</c> of the RoIAlign cases.</summary>
    public static (Tensor Feature, Tensor Rois) RoIAlignInputs()
    {
        var shape = Longs(Json.GetProperty("feature_shape"));
        var feature = tensor(Floats(Json.GetProperty("feature"))).reshape(shape);
        var rois = tensor(Flatten(Json.GetProperty("rois"))).reshape(-1, 5);
        return (feature, rois);
    }

    /// <summary>The mmcv.ops.RoIAlign arguments of case <paramref name="index"/>.</summary>
    public static RoIAlignOptions RoIAlignOptionsOf(int index)
    {
        var c = Json.GetProperty("roi_align")[index];
        var size = Longs(c.GetProperty("output_size"));
        return new RoIAlignOptions(
            (int)size[0], (int)size[1], c.GetProperty("spatial_scale").GetSingle(), c.GetProperty("sampling_ratio").GetInt32(),
            RoIAlignOptions.ParsePoolMode(c.GetProperty("pool_mode").GetString()!), c.GetProperty("aligned").GetBoolean());
    }

    /// <summary>The 60 NMS boxes and scores (with exact score ties), the IoU threshold and mmcv's kept indices.</summary>
    public static (Tensor Boxes, Tensor Scores, float Threshold, long[] Keep) NmsInputs()
    {
        var j = Json.GetProperty("nms");
        return (
            tensor(Flatten(j.GetProperty("boxes"))).reshape(-1, 4),
            tensor(Floats(j.GetProperty("scores"))),
            j.GetProperty("iou_threshold").GetSingle(),
            Longs(j.GetProperty("keep")));
    }
}
