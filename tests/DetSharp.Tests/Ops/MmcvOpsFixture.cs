using System.Text.Json;
using DetSharp.Tests.TestSupport;

namespace DetSharp.Tests.Ops;

/// <summary>Reads <c>fixtures/mmdet/ops/mmcv_ops.json</c> (see its README for how each number was made).</summary>
internal static class MmcvOpsFixture
{
    public const string Path = "fixtures/mmdet/ops/mmcv_ops.json";

    private static readonly Lazy<JsonElement> Root = new(() => SharedFixtures.LoadJson(Path).RootElement.Clone());

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
}
