using System.Runtime.CompilerServices;
using DetSharp.Config;
using DetSharp.Datasets;
using DetSharp.Datasets.Transforms;
using DetSharp.Engine;
using DetSharp.Engine.Checkpoints;
using DetSharp.Evaluation;
using DetSharp.Models.Detectors;
using DetSharp.Registry;
using DetSharp.Utils;
using OpenCvSharp;
using TorchSharp;

namespace DetSharp.Apis;

/// <summary>
/// A trained detector ready for inference: MMDetection's <c>init_detector</c> + <c>inference_detector</c> for .NET
/// applications. <see cref="FromConfig"/> builds the model from the config (backbone pretraining disabled), loads the
/// checkpoint, takes the class names from the checkpoint's meta (else the config's <c>classes</c>, else COCO's 80
/// names) and switches to eval mode. <see cref="Infer(string)"/> runs the config's test pipeline and returns
/// detections in original-image coordinates; <see cref="InferBatchAsync(IEnumerable{string}, int, IProgress{InferenceProgress}?, CancellationToken)"/>
/// runs several images through one forward pass.
/// <para>Thread safety: an instance may be shared by threads; the test pipelines run concurrently, the forward passes of
/// concurrent <c>Infer</c> / <c>InferBatchAsync</c> calls one at a time. <see cref="Dispose"/> must not race them.</para>
/// </summary>
public sealed class Detector : IDisposable
{
    // One of the two backends: the libtorch model, or an exported model in ONNX Runtime (FromOnnx).
    private readonly BaseDetector? _model;
    private readonly OnnxRuntimeBackend? _onnx;
    private readonly IInferenceBackend _backend;
    private readonly Compose _pipeline;
    private readonly Compose _inMemoryPipeline;
    private readonly Lock _lock = new();

    private Detector(BaseDetector? model, OnnxRuntimeBackend? onnx, Config.Config cfg, IReadOnlyList<string> classes, IReadOnlyList<string> warnings)
    {
        _model = model;
        _onnx = onnx;
        _backend = onnx ?? (IInferenceBackend)new LibtorchBackend(model!);
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

    /// <summary>The libtorch model (not for a detector from <see cref="FromOnnx"/>).</summary>
    public BaseDetector Model => _model ?? throw new DetSharpException("this Detector runs an ONNX model in ONNX Runtime (Detector.FromOnnx); it has no libtorch model.");

    /// <summary>"libtorch", or "onnxruntime" for a detector from <see cref="FromOnnx"/>.</summary>
    public string Backend => _backend.Name;

    /// <summary>
    /// What runs the test-pipeline outputs: the libtorch model or ONNX Runtime (the test loop, <see cref="TestDetector"/>,
    /// takes it). Calls through it are not serialised with <see cref="Infer(string)"/>'s.
    /// </summary>
    public IInferenceBackend InferenceBackend => _backend;

    /// <summary>
    /// ONNX Runtime's intra-op and inter-op thread counts (the session runs its nodes one after another, so the
    /// inter-op pool is unused); null for the libtorch backend.
    /// </summary>
    public (int IntraOp, int InterOp)? OnnxRuntimeThreads => _onnx is null ? null : (_onnx.IntraOpThreads, _onnx.InterOpThreads);

    /// <summary>
    /// A detector from a model written by <c>detsharp export onnx</c> (<see cref="OnnxExport"/>), run in ONNX Runtime with
    /// every graph optimization on: the same test pipeline (the config is in the file's metadata), the same
    /// <see cref="DetectionSet"/> results as <see cref="FromConfig(string, string?, string, IEnumerable{string}?)"/>.
    /// <paramref name="device"/> is <c>cpu</c>, or <c>cuda[:N]</c> with the application referencing
    /// <c>Microsoft.ML.OnnxRuntime.Gpu</c> (instead of <c>Microsoft.ML.OnnxRuntime</c>).
    /// </summary>
    /// <remarks><paramref name="threads"/>: ONNX Runtime's intra-op threads; by default libtorch's
    /// (<c>torch.get_num_threads()</c>), so that both backends use the same cores.</remarks>
    public static Detector FromOnnx(string path, string device = "cpu", int? threads = null)
    {
        var onnx = OnnxRuntimeBackend.Open(path, device, threads);
        return new Detector(null, onnx, onnx.Config, onnx.ClassNames, []);
    }

    /// <summary>
    /// For a detector from <see cref="FromOnnx"/>: stops with a message naming <paramref name="modelPath"/> unless
    /// <paramref name="cfg"/>'s <c>data.test.pipeline</c> and <c>model.test_cfg</c> are the ones the graph was exported
    /// with: the graph expects that preprocessing (scale, normalization, padding) and has the post-processing
    /// (<c>score_thr</c>, <c>nms</c>, <c>max_per_img</c>, proposal counts) built in, so a changed value would silently not
    /// apply (<c>detsharp test --backend onnxruntime</c> runs CONFIG's test set; <c>benchmark infer --compare-onnx</c>
    /// compares it with CONFIG's model). Nothing to check for a libtorch detector.
    /// </summary>
    public void RequireExportedTestSettings(Config.Config cfg, string modelPath)
    {
        if (_onnx is null) return;
        foreach (var key in (string[])["data.test.pipeline", "model.test_cfg"])
        {
            string exported = ConfigDumper.FormatInline(Config.Get<object?>(key, null));
            string given = ConfigDumper.FormatInline(cfg.Get<object?>(key, null));
            if (exported != given)
                throw new DetSharpException($"{modelPath} was exported with {key} {exported}, but {cfg.Filename} (with --cfg-options) has {given}: "
                                            + "use the config and --cfg-options it was exported with, or export it again from this config.");
        }
    }

    /// <summary>
    /// mmcv's <c>fuse_conv_bn</c> on the model (MMDetection's <c>tools/test.py --fuse-conv-bn</c>): every BatchNorm that
    /// follows a conv is folded into it, for faster inference with the same detections; returns how many were folded.
    /// The model stays fused (for inference only: do not save it as a checkpoint).
    /// </summary>
    public int FuseConvBn() => Models.Common.FuseConvBn.Fuse(_model ?? throw new DetSharpException(
        "--fuse-conv-bn folds BatchNorms of a libtorch model; an ONNX Runtime detector (Detector.FromOnnx) has none to fold: leave the option out (ONNX Runtime fuses them itself)."));

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
        // tools/test.py's wrap_fp16_model: the config's fp16 / mixed_precision makes inference autocast too.
        model.AutocastDtype = MixedPrecision.FromConfig(cfg, torchDevice.type)?.Dtype;
        // The backbone and neck in channels-last memory format on the CPU, as training runs them (channels_last=False: NCHW).
        if (ChannelsLast.Enabled(cfg)) model.UseChannelsLast();
        return new Detector(model, null, cfg, classes, warnings);
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
    public DetectionSet Infer(string imagePath) => RunBatch([FromFile(imagePath)])[0];

    /// <summary>
    /// For a detector from <see cref="FromOnnx"/>: the graph inputs of an image file as this runtime feeds them — <c>input</c>
    /// [1, 3, H, W] (test pipeline, collated, padded to the model's input size) and <c>img_shape</c> [2] (not for a model
    /// exported without post-processing) —, to run the exported model in another runtime on exactly the same tensors
    /// (e.g. ONNX Runtime's CUDA provider, <c>bench/onnx_ep_compare</c>).
    /// </summary>
    public IReadOnlyList<(string Name, float[] Data, long[] Shape)> OnnxGraphInputs(string imagePath)
    {
        var onnx = _onnx ?? throw new DetSharpException("OnnxGraphInputs is for a detector from Detector.FromOnnx (an exported model).");
        using var processed = Preprocess(FromFile(imagePath));
        var views = Inference.Views(processed);
        if (views.Count != 1)
            throw new DetSharpException($"{imagePath}: the ONNX model runs one view per image; the test pipeline makes {views.Count} (test-time augmentation).");
        using var scope = TorchSharp.torch.NewDisposeScope();
        var (input, meta) = onnx.GraphInput(views[0]);
        var inputs = new List<(string, float[], long[])> { ("input", input.data<float>().ToArray(), input.shape) };
        if (!onnx.PostprocessSkipped) inputs.Add(("img_shape", [meta.ImgShape.Height, meta.ImgShape.Width], [2]));
        return inputs;
    }

    /// <summary>Detects objects in a BGR uint8 image held in memory (the Mat is not modified or disposed).</summary>
    public DetectionSet Infer(Mat image) => RunBatch([FromMat(image)])[0];

    /// <summary>
    /// Detects objects in several image files, one at a time (results in input order); <paramref name="cancellationToken"/> is
    /// checked before each image.
    /// </summary>
    public IReadOnlyList<DetectionSet> Infer(IEnumerable<string> imagePaths, CancellationToken cancellationToken = default) =>
        imagePaths.Select(path =>
        {
            cancellationToken.ThrowIfCancellationRequested();
            return Infer(path);
        }).ToList();

    /// <summary>
    /// Detects objects in image files, <paramref name="batchSize"/> images through ONE forward pass (each batch padded to its
    /// largest image, as <c>samples_per_gpu</c> batches are), on a thread-pool thread; results come in input order as each
    /// batch finishes and equal <see cref="Infer(string)"/>'s within float tolerance. <paramref name="progress"/> gets the
    /// images done after each batch; <paramref name="cancellationToken"/> stops before the next batch.
    /// </summary>
    public IAsyncEnumerable<DetectionSet> InferBatchAsync(IEnumerable<string> imagePaths, int batchSize = 4,
        IProgress<InferenceProgress>? progress = null, CancellationToken cancellationToken = default) =>
        InferBatches(imagePaths, FromFile, batchSize, progress, cancellationToken);

    /// <summary>
    /// <see cref="InferBatchAsync(IEnumerable{string}, int, IProgress{InferenceProgress}?, CancellationToken)"/> for BGR uint8
    /// images in memory (video frames); the Mats are not modified or disposed.
    /// </summary>
    public IAsyncEnumerable<DetectionSet> InferBatchAsync(IEnumerable<Mat> images, int batchSize = 4,
        IProgress<InferenceProgress>? progress = null, CancellationToken cancellationToken = default) =>
        InferBatches(images, FromMat, batchSize, progress, cancellationToken);

    private async IAsyncEnumerable<DetectionSet> InferBatches<T>(IEnumerable<T> inputs, Func<T, PendingImage> prepare, int batchSize,
        IProgress<InferenceProgress>? progress, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        int? total = inputs.TryGetNonEnumeratedCount(out int count) ? count : null;
        int done = 0;
        foreach (var chunk in inputs.Chunk(batchSize))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var results = await Task.Run(() => RunBatch(chunk.Select(prepare).ToList()), cancellationToken).ConfigureAwait(false);
            done += results.Count;
            progress?.Report(new InferenceProgress(done, total));
            foreach (var result in results) yield return result;
        }
    }

    /// <summary>An input with the pipeline that takes it: from its file (LoadImageFromFile first) or already in memory.</summary>
    private sealed record PendingImage(Compose Pipeline, DetSample Sample, string? Source);

    private PendingImage FromFile(string imagePath) =>
        new(_pipeline, new DetSample { ImgInfo = new CocoImage(0, 0, 0, imagePath) }, imagePath);

    private PendingImage FromMat(Mat image)
    {
        if (image.Type() != MatType.CV_8UC3)
            throw new DetSharpException($"Infer(Mat) needs an 8-bit, 3-channel BGR image; got {image.Type()}.");
        var sample = new DetSample { ImgInfo = new CocoImage(0, image.Cols, image.Rows, null) };
        sample.SetImg(image.Clone());
        // LoadImageFromWebcam's None; empty so that Collect finds the meta key.
        sample.Filename = "";
        sample.OriFilename = "";
        sample.ImgShape = new ImageShape(image.Rows, image.Cols, 3);
        sample.OriShape = sample.ImgShape;
        sample.ImgFields = ["img"];
        return new PendingImage(_inMemoryPipeline, sample, null);
    }

    /// <summary>The test pipeline on one image (its input sample is disposed); a pipeline that drops the image stops, naming it.</summary>
    private static DetSample Preprocess(PendingImage image)
    {
        using (image.Sample)
            return image.Pipeline.Apply(image.Sample, new Random(0))
                   ?? throw new DetSharpException($"{image.Source ?? "image"}: the test pipeline dropped the image.");
    }

    /// <summary>The test pipeline per image (outside the lock), then one forward pass for them all.</summary>
    private List<DetectionSet> RunBatch(IReadOnlyList<PendingImage> images)
    {
        var processed = new List<DetSample>(images.Count);
        try
        {
            foreach (var image in images)
            {
                using var timed = Profiler.Scope(ProfilerSections.Data);
                processed.Add(Preprocess(image));
            }
            List<DetectionSet> results;
            lock (_lock)
                results = _backend.Run(processed, ClassNames);
            return [.. results.Select((r, i) => r with { Source = images[i].Source })];
        }
        finally
        {
            foreach (var sample in processed) sample.Dispose();
        }
    }

    public void Dispose()
    {
        _model?.Dispose();
        _onnx?.Dispose();
    }
}
