using System.Text.Json.Nodes;
using DetSharp.Apis;
using DetSharp.Config;
using DetSharp.Datasets;
using DetSharp.Engine;
using DetSharp.Models.Detectors;
using DetSharp.Tests.Models;

namespace DetSharp.Tests.Apis;

/// <summary>Pre-flight checks of <c>detsharp train</c>: each set-up mistake stops with one message naming the cause.</summary>
public sealed class TrainPreflightTests
{
    private const string Ann = "datasets/balloon/train/annotation_coco.json";

    private static DetSharpException LoaderError(params string[] options)
    {
        var cfg = InferenceTests.SlimConfig(options);
        return Assert.Throws<DetSharpException>(() => new TrainComponents().BuildLoader(cfg, cfg.Get<ConfigDict>("data.train"), true, 0));
    }

    [SharedFact(Ann)]
    public void Loader_OnBalloon_IsBuilt()
    {
        var cfg = InferenceTests.SlimConfig();
        var loader = new TrainComponents().BuildLoader(cfg, cfg.Get<ConfigDict>("data.train"), true, 0);
        Assert.Equal(["balloon"], loader.Classes);
        Assert.Equal(31, loader.Count); // 61 images, 2 per batch, GroupSampler padding
    }

    [SharedFact(Ann)]
    public void ClassesAsString_SaysAddTheComma()
    {
        var e = LoaderError("data.train.classes=balloon");
        Assert.Contains("classes=('balloon',)", e.Message);
    }

    [SharedFact(Ann)]
    public void ClassNameMissingFromAnnotationFile_IsNamed()
    {
        var e = LoaderError("data.train.classes=('balloon','ballon')");
        Assert.Contains("'ballon'", e.Message);
        Assert.Contains("are not category names", e.Message);
    }

    [SharedFact(Ann)]
    public void EmptyTrainSetAfterFiltering_GivesTheReason()
    {
        string dir = Directory.CreateTempSubdirectory("detsharp-empty").FullName;
        try
        {
            var root = JsonNode.Parse(File.ReadAllText(SharedData.FullPath(Ann)))!.AsObject();
            root["annotations"] = new JsonArray();
            string ann = Path.Combine(dir, "empty.json");
            File.WriteAllText(ann, root.ToJsonString());
            var e = LoaderError($"data.train.ann_file={ann}");
            Assert.Contains("the training set is empty after filtering", e.Message);
            Assert.Contains("0 of them have an annotation of the selected classes", e.Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [SharedFact(Ann)]
    public void MissingImageFiles_AreCountedAndNamed()
    {
        string dir = Directory.CreateTempSubdirectory("detsharp-noimg").FullName;
        try
        {
            var e = LoaderError($"data.train.img_prefix={dir}/");
            Assert.Contains("61 of 61 image files", e.Message);
            Assert.Contains("do not exist", e.Message);
            Assert.Contains(dir, e.Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [SharedFact(Ann)]
    public void NumClassesDifferentFromClasses_NamesTheHead()
    {
        var cfg = InferenceTests.SlimConfig("model.roi_head.bbox_head.num_classes=3");
        using var model = (BaseDetector)ModelFixtures.Build(cfg.Get<ConfigDict>("model"));
        var heads = model.named_modules().Where(m => m.module is IHasNumClasses { IsClassAgnostic: false })
            .Select(m => new HeadClassCount(m.name, m.module.GetType().Name, ((IHasNumClasses)m.module).NumClasses)).ToList();
        Assert.Equal(["roi_head.bbox_head", "roi_head.mask_head"], heads.Select(h => h.ModuleName));
        var e = Assert.Throws<DetSharpException>(() => NumClassCheck.Check(new List<string> { "balloon" }, heads, "CocoDataset", "MaskRCNN"));
        Assert.Contains("The `num_classes` (3) in Shared2FCBBoxHead", e.Message);
        Assert.Contains("model.roi_head.bbox_head.num_classes=1", e.Message);
    }
}
