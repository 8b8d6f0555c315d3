using DetSharp.Config;

namespace DetSharp.Core.Tests.Config;

/// <summary>
/// MMDetection 2.28's config zoo (<c>../shared/mmdet-configs-2.28</c>, all 634 configs outside <c>_base_</c>) through the
/// config language: every one merges and dumps as <c>print-config</c> does, and those that generate values with
/// comprehensions, f-strings and <c>dict.update</c> merge to exactly what mmcv's <c>Config.fromfile</c> gave
/// (<c>tests/fixtures/mmdet-2.28/configs</c>, made by <c>tools/oracle/config_comprehensions.py</c>).
/// </summary>
public class ZooCorpusConfigTests
{
    private const string Corpus = "mmdet-configs-2.28";

    [SharedFact(Corpus)]
    public void Every_zoo_config_merges_and_dumps()
    {
        var configs = Directory.EnumerateFiles(SharedData.FullPath(Corpus), "*.py", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}_base_{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .ToList();
        var failures = new List<string>();
        foreach (var file in configs)
        {
            try
            {
                var cfg = DetSharp.Config.Config.FromFile(file);
                Assert.NotEmpty(cfg.DumpPython());
            }
            catch (DetSharpException e)
            {
                failures.Add(e.Message.Split('\n')[0]);
            }
        }
        Assert.Equal(634, configs.Count);
        Assert.True(failures.Count == 0, $"{failures.Count} of {configs.Count} zoo configs do not merge:\n" + string.Join("\n", failures));
    }

    public static TheoryData<string> Generated => new()
    {
        "yolact/yolact_r50_1x8_coco",
        "sparse_rcnn/sparse_rcnn_r50_fpn_mstrain_480-800_3x_coco",
        "queryinst/queryinst_r50_fpn_1x_coco",
        "mask2former/mask2former_swin-t-p4-w7-224_lsj_8x2_50e_coco-panoptic",
    };

    [SharedTheory(Corpus)]
    [MemberData(nameof(Generated))]
    public void Generated_values_merge_as_mmcv_merges_them(string config)
    {
        var ours = DetSharp.Config.Config.FromFile(SharedData.FullPath(Corpus, config + ".py")).Dict;
        string fixture = Path.Combine(RepoPaths.Root, "tests", "fixtures", "mmdet-2.28", "configs", config.Replace("/", "__", StringComparison.Ordinal) + ".merged_config");
        var json = DataConfigReader.FromJson(File.ReadAllText(fixture + ".json"), fixture + ".json");
        var python = PyConfigParser.Evaluate(File.ReadAllText(fixture + ".py"), fixture + ".py");

        Assert.Empty(ConfigTreeDiff.Diff(json, ours, tuplesAsLists: true));
        Assert.Empty(ConfigTreeDiff.Diff(python, ours, tuplesAsLists: false));
        // Key order too: print-config lists keys as mmcv does.
        Assert.Equal(string.Join(",", FlatKeys(python)), string.Join(",", FlatKeys(ours)));
    }

    private static IEnumerable<string> FlatKeys(object? value, string path = "") => value switch
    {
        ConfigDict d => d.SelectMany(kv => FlatKeys(kv.Value, $"{path}.{kv.Key}").Prepend($"{path}.{kv.Key}")),
        List<object?> l => l.SelectMany((v, i) => FlatKeys(v, $"{path}.{i}")),
        _ => [],
    };
}
