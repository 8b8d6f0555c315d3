using DetSharp.Config;
using DetSharp.Datasets;
using DetSharp.Datasets.Transforms;
using DetSharp.Engine.Checkpoints;
using DetSharp.Evaluation;
using DetSharp.Models.Detectors;
using DetSharp.Registry;
using OpenCvSharp;
using TorchSharp;

namespace DetSharp.Apis;

/// <summary>
/// A trained detector ready for inference: MMDetection's <c>init_detector</c> + <c>inference_detector</c> for .NET
/// applications. <see cref="FromConfig"/> builds the model from the config (backbone pretraining disabled), loads the
/// checkpoint, takes the class names from the checkpoint's meta (else the config's <c>classes</c>, else COCO's 80
/// names) and switches to eval mode. <see cref="Infer(string)"/> runs the config's test pipeline and returns
/// detections in original-image coordinates.
/// <para>Thread safety: an instance may be shared; concurrent <c>Infer</c> calls are serialised (one forward at a time).</para>
/// </summary>
public sealed class Detector : IDisposable
{
    private readonly BaseDetector _model;
    private readonly Compose _pipeline;
    private readonly Compose _inMemoryPipeline;
    private readonly Lock _lock = new();

    private Detector(BaseDetector model, Config.Config cfg, IReadOnlyList<string> classes, IReadOnlyList<string> warnings)
    {
        _model = model;
        Config = cfg;
        ClassNames = classes;
        Warnings = warnings;
        var steps = cfg.Get<List<ConfigDict>>("data.test.pipeline");
        _pipeline = Compose.FromConfig(steps);
        // As inference_detector does for arrays: the first step (LoadImageFromFile) is replaced by one that takes the
        // image already in memory.
        _inMemoryPipeline = Compose.FromConfig(steps.Skip(1).ToList());
    }

    public Config.Config Config { get; }

    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>Notes from loading (e.g. class names not in the checkpoint, skipped weights).</summary>
    public IReadOnlyList<string> Warnings { get; }

    public BaseDetector Model => _model;

    /// <summary>
    /// MMDetection's <c>init_detector</c>. <paramref name="device"/> is <c>cpu</c> or <c>cuda[:N]</c>;
    /// <paramref name="cfgOptions"/> are <c>--cfg-options</c> items.
    /// </summary>
    public static Detector FromConfig(string configPath, string? checkpointPath, string device = "cpu", IEnumerable<string>? cfgOptions = null) =>
        FromConfig(ConfigTools.Load(configPath, cfgOptions), checkpointPath, device);

    /// <summary>
    /// The one way DetSharp builds a model for inference (<c>init_detector</c>, and <c>tools/test.py</c>'s model set-up):
    /// the config's <c>model</c> with <c>pretrained</c> (else the backbone's <c>init_cfg</c>) and <c>train_cfg</c> set to
    /// None, the checkpoint's weights loaded non-strictly (mismatches become <see cref="Warnings"/>), class names from the
    /// checkpoint's meta, else <paramref name="datasetClasses"/> (what <c>detsharp test</c> passes), else the config's
    /// <c>data.test.classes</c>, else COCO's 80; eval mode, on <paramref name="device"/>. The config is not modified.
    /// </summary>
    public static Detector FromConfig(Config.Config cfg, string? checkpointPath, string device = "cpu", IReadOnlyList<string>? datasetClasses = null)
    {
        var modelCfg = cfg.Get<ConfigDict>("model").Clone();
        if (modelCfg.ContainsKey("pretrained")) modelCfg["pretrained"] = null;
        else if (modelCfg.TryGetValue("backbone", out var backbone) && backbone is ConfigDict b && b.ContainsKey("init_cfg")) b["init_cfg"] = null;
        if (modelCfg.ContainsKey("train_cfg")) modelCfg["train_cfg"] = null;

        var torchDevice = ParseDevice(device);
        ComponentRegistration.EnsureRegistered();
        var model = Registries.Models.Build<BaseDetector>(modelCfg);
        var warnings = new List<string>();
        IReadOnlyList<string>? classes = null;
        if (checkpointPath is not null)
        {
            using var checkpoint = Checkpoint.Load(checkpointPath);
            var report = Checkpoint.LoadStateDict(model, checkpoint.StateDict);
            if (report.Message is { } mismatch)
                warnings.Add($"{checkpointPath}: {mismatch}");
            classes = checkpoint.Classes;
        }
        else
        {
            warnings.Add("no checkpoint given: the model has random weights.");
        }
        if (classes is null && datasetClasses is not null)
        {
            classes = datasetClasses;
            if (checkpointPath is not null) warnings.Add("the checkpoint's meta has no CLASSES; using the dataset's classes.");
        }
        if (classes is null)
        {
            classes = ConfigClasses(cfg);
            if (classes is null)
            {
                classes = CocoDataset.CocoClasses;
                warnings.Add("class names are neither in the checkpoint's meta nor in the config's data.test.classes; using COCO's 80 names.");
            }
            else if (checkpointPath is not null)
            {
                warnings.Add("the checkpoint's meta has no CLASSES; using the config's data.test.classes.");
            }
        }
        model.to(torchDevice);
        model.eval();
        return new Detector(model, cfg, classes, warnings);
    }

    private static IReadOnlyList<string>? ConfigClasses(Config.Config cfg)
    {
        foreach (var path in new[] { "data.test.classes", "data.test.dataset.classes", "classes" })
            if (cfg.Dict.TryGet<object>(path, out var value) && value is List<object?> list && list.All(x => x is string))
                return list.Cast<string>().ToList();
        return null;
    }

    private static torch.Device ParseDevice(string device)
    {
        if (device.StartsWith("cuda", StringComparison.OrdinalIgnoreCase) && !torch.cuda.is_available())
            throw new DetSharpException($"device '{device}' was asked for, but this libtorch has no CUDA (the CPU build is referenced; see README). Use --device cpu.");
        try
        {
            return torch.device(device);
        }
        catch (ArgumentException e)
        {
            throw new DetSharpException($"'{device}' is not a device; use cpu or cuda[:N].", e);
        }
    }

    /// <summary>Detects objects in an image file.</summary>
    public DetectionSet Infer(string imagePath)
    {
        using var sample = new DetSample { ImgInfo = new CocoImage(0, 0, 0, imagePath) };
        return Run(_pipeline, sample, imagePath);
    }

    /// <summary>Detects objects in a BGR uint8 image held in memory (the Mat is not modified or disposed).</summary>
    public DetectionSet Infer(Mat image)
    {
        if (image.Type() != MatType.CV_8UC3)
            throw new DetSharpException($"Infer(Mat) needs an 8-bit, 3-channel BGR image; got {image.Type()}.");
        using var sample = new DetSample { ImgInfo = new CocoImage(0, image.Cols, image.Rows, null) };
        sample.SetImg(image.Clone());
        // LoadImageFromWebcam's None; empty so that Collect finds the meta key.
        sample.Filename = "";
        sample.OriFilename = "";
        sample.ImgShape = new ImageShape(image.Rows, image.Cols, 3);
        sample.OriShape = sample.ImgShape;
        sample.ImgFields = ["img"];
        return Run(_inMemoryPipeline, sample, null);
    }

    /// <summary>Detects objects in several image files, one at a time (results in input order).</summary>
    public IReadOnlyList<DetectionSet> Infer(IEnumerable<string> imagePaths) => imagePaths.Select(Infer).ToList();

    private DetectionSet Run(Compose pipeline, DetSample sample, string? source)
    {
        using var processed = pipeline.Apply(sample, new Random(0))
                              ?? throw new DetSharpException($"{source ?? "image"}: the test pipeline dropped the image.");
        lock (_lock)
            return Inference.Run(_model, [processed], ClassNames)[0] with { Source = source };
    }

    public void Dispose() => _model.Dispose();
}
