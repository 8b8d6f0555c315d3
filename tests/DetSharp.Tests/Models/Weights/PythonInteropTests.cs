using DetSharp.Engine.Checkpoints;
using DetSharp.Models.Common;
using DetSharp.Tests.Engine;

namespace DetSharp.Tests.Models.Weights;

/// <summary>
/// A DetSharp-written Mask R-CNN R50 checkpoint holds exactly MMDetection's keys and shapes
/// (fixtures/mmdet/state_dicts/mask_rcnn_r50_fpn_nc80, built from configs/mask_rcnn/mask_rcnn_r50_fpn_1x_coco.py).
/// <c>tools/check_state_dict_with_python.sh</c> runs this test with <c>DETSHARP_MASK_RCNN_PTH_OUT</c> set and loads the
/// file in Python with <c>load_state_dict(strict=True)</c>.
/// </summary>
public sealed class PythonInteropTests
{
    private const string Tsv = "fixtures/mmdet/state_dicts/mask_rcnn_r50_fpn_nc80.state_dict.tsv";

    [SharedFact(Tsv)]
    public void Mask_rcnn_r50_checkpoint_has_mmdetection_keys_and_shapes()
    {
        using var model = ModelFixtures.Build(ModelFixtures.ModelConfig(ModelFixtures.RepoConfig("mask_rcnn/mask_rcnn_r50_fpn_1x_coco.py")));
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "mask_rcnn_r50_fpn_1x_coco.pth");
        Checkpoint.Save(path, model, null, [new("CLASSES", "coco"), new("epoch", 0L), new("iter", 0L)]);
        if (Environment.GetEnvironmentVariable("DETSHARP_MASK_RCNN_PTH_OUT") is { Length: > 0 } copyTo) File.Copy(path, copyTo, overwrite: true);

        using var ckpt = Checkpoint.Load(path);
        var expected = ModelFixtures.ReadTsv(Tsv);
        Assert.Equal(expected.Select(e => e.Key).Order(), ckpt.StateDict.Keys.Order());
        foreach (var (key, shape) in expected)
            Assert.Equal(shape, "[" + string.Join(", ", ckpt.StateDict[key].shape) + "]");
        var own = ModuleTools.StateDict(model).ToDictionary(e => e.Key, e => e.Value);
        foreach (var (key, value) in ckpt.StateDict) Assert.True(value.equal(own[key]).all().item<bool>(), key);
    }
}
