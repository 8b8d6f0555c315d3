using System.Globalization;
using System.Text.Json;
using DetSharp.Datasets;
using DetSharp.Datasets.Transforms;
using DetSharp.Models;
using DetSharp.Models.DenseHeads;
using DetSharp.Models.Detectors;
using Microsoft.ML.OnnxRuntime;
using static TorchSharp.torch;

namespace DetSharp.Apis;

/// <summary>
/// Runs a model written by <see cref="OnnxExport"/> in ONNX Runtime on test-pipeline outputs, the way
/// <see cref="Inference.Run"/> runs the libtorch model on them: the image batch as <see cref="DetCollate"/> makes it
/// (padded to the pipeline's size divisor), zero-padded further to the model's input size unless the model is dynamic,
/// <c>img_shape</c> from the image's meta; the <c>dets</c> divided by the scale factor (<c>rescale=True</c>) and grouped
/// as <see cref="DetectionResult"/> does. CPU, or CUDA's execution provider when the application references
/// <c>Microsoft.ML.OnnxRuntime.Gpu</c>.
/// <para>Thread safety: an InferenceSession may run concurrently; <see cref="Detector"/> serialises calls anyway.</para>
/// </summary>
internal sealed class OnnxRuntimeBackend : IInferenceBackend, IDisposable
{
    private readonly InferenceSession _session;
    private readonly SessionOptions _options;
    // The fixed input size; null for a dynamic model, which takes each image as the test pipeline pads it.
    private readonly (long Height, long Width)? _inputSize;
    private readonly string _path;

    private OnnxRuntimeBackend(string path, InferenceSession session, SessionOptions options, IReadOnlyDictionary<string, string> metadata)
    {
        _path = path;
        _session = session;
        _options = options;
        Metadata = metadata;
        if (!(metadata.TryGetValue(Models.Onnx.OnnxDetectorExport.DynamicKey, out var dynamic) && dynamic == "true"))
            _inputSize = (long.Parse(Required("input_height"), CultureInfo.InvariantCulture), long.Parse(Required("input_width"), CultureInfo.InvariantCulture));
        Config = DetSharp.Config.Config.FromText(Required(OnnxExport.ConfigKey), Metadata.TryGetValue("config_name", out var name) ? name : path);
        ClassNames = JsonSerializer.Deserialize<string[]>(Required(OnnxExport.ClassesKey)) ?? [];
        WithMasks = session.OutputMetadata.ContainsKey("masks");
        // A mask model's probabilities are binarised where the libtorch path does it: test_cfg.rcnn.mask_thr_binary.
        _maskThrBinary = Config.Get("model.test_cfg.rcnn.mask_thr_binary", 0.5);
        if (metadata.TryGetValue(Models.Onnx.OnnxDetectorExport.PostprocessKey, out var postprocess) && postprocess == Models.Onnx.OnnxDetectorExport.PostprocessSkipped)
            _rawHead = RawHead.Open(path, session, Config);
    }

    private readonly double _maskThrBinary;

    // For a model exported without post-processing: the dense head that decodes its raw maps; null when it is in the graph.
    private readonly RawHead? _rawHead;

    /// <summary>Whether the graph ends at the dense head's raw maps, decoded here (<c>export onnx --skip-postprocess</c>).</summary>
    public bool PostprocessSkipped => _rawHead is not null;

    /// <summary>Whether the model outputs <c>masks</c> (a Mask R-CNN family model): pasted into the image here.</summary>
    public bool WithMasks { get; }

    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The merged config the model was exported from (its test pipeline preprocesses the images).</summary>
    public DetSharp.Config.Config Config { get; }

    public IReadOnlyList<string> ClassNames { get; }

    public string Name => "onnxruntime";

    /// <summary>The threads of an operator (ONNX Runtime's intra-op pool).</summary>
    public int IntraOpThreads => _options.IntraOpNumThreads;

    /// <summary>The inter-op pool: 1, as the nodes run one after another (ORT_SEQUENTIAL).</summary>
    public int InterOpThreads => _options.InterOpNumThreads;

    /// <summary>
    /// Opens <paramref name="path"/> with every graph optimization on. <paramref name="device"/>: <c>cpu</c>, or
    /// <c>cuda[:N]</c> for CUDA's execution provider (which needs <c>Microsoft.ML.OnnxRuntime.Gpu</c> and a CUDA install).
    /// <paramref name="threads"/>: the intra-op threads, by default libtorch's (<c>torch.get_num_threads()</c>), so that a
    /// comparison of the two backends gives both the same cores.
    /// </summary>
    public static OnnxRuntimeBackend Open(string path, string device, int? threads = null)
    {
        if (!File.Exists(path)) throw new DetSharpException($"{path}: no such ONNX model file.");
        if (threads is < 1) throw new DetSharpException($"ONNX Runtime's intra-op threads (--ort-threads) must be at least 1, got {threads}.");
        var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = threads ?? get_num_threads(),
            InterOpNumThreads = 1,
        };
        try
        {
            if (device.StartsWith("cuda", StringComparison.OrdinalIgnoreCase))
            {
                int id = device.Length > 5 && device[4] == ':' ? int.Parse(device[5..], CultureInfo.InvariantCulture) : 0;
                try
                {
                    options.AppendExecutionProvider_CUDA(id);
                }
                catch (Exception e) when (e is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException)
                {
                    throw new DetSharpException($"{path}: device '{device}' needs ONNX Runtime's CUDA execution provider: reference the package "
                                                + $"Microsoft.ML.OnnxRuntime.Gpu instead of Microsoft.ML.OnnxRuntime (and install CUDA), or use --device cpu. ({e.Message})", e);
                }
            }
            else if (device != "cpu")
            {
                throw new DetSharpException($"'{device}' is not a device; use cpu or cuda[:N].");
            }
            InferenceSession session;
            try
            {
                session = new InferenceSession(path, options);
            }
            catch (OnnxRuntimeException e)
            {
                throw new DetSharpException($"{path}: ONNX Runtime cannot load this model: {e.Message}", e);
            }
            var metadata = session.ModelMetadata.CustomMetadataMap;
            if (!metadata.ContainsKey(OnnxExport.ConfigKey))
            {
                session.Dispose();
                throw new DetSharpException($"{path}: not a model written by `detsharp export onnx` (its metadata has no '{OnnxExport.ConfigKey}').");
            }
            return new OnnxRuntimeBackend(path, session, options, new Dictionary<string, string>(metadata));
        }
        catch
        {
            options.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The graph's <c>input</c> for one test-pipeline output, as <see cref="Run"/> feeds it: the image batch as
    /// <see cref="DetCollate"/> makes it, zero-padded further to the model's input size unless the model is dynamic; and the
    /// image's meta (whose <c>img_shape</c> is the graph's other input).
    /// </summary>
    public (Tensor Input, ImgMeta Meta) GraphInput(DetSample view)
    {
        using var scope = NewDisposeScope();
        using var batch = DetCollate.Collate([view], withGt: false, device: CPU);
        var meta = batch.ImgMetas[0];
        var input = batch.Img;
        if (_inputSize is { } size)
        {
            if (input.shape[2] > size.Height || input.shape[3] > size.Width)
                throw new DetSharpException($"{view.Filename}: the preprocessed image is {input.shape[2]} x {input.shape[3]}, larger than the ONNX model's input "
                                            + $"{size.Height} x {size.Width}; export with a larger --shape H W, or with --dynamic.");
            // Zero beyond the image, as Pad leaves it after Normalize.
            input = nn.functional.pad(input, [0, size.Width - input.shape[3], 0, size.Height - input.shape[2]]);
        }
        return (input.contiguous().MoveToOuterDisposeScope(), meta);
    }

    /// <summary>One image at a time (the model's batch is 1), results in original-image coordinates.</summary>
    public List<DetectionSet> Run(IReadOnlyList<DetSample> pipelineOutputs, IReadOnlyList<string> classNames)
    {
        var results = new List<DetectionSet>(pipelineOutputs.Count);
        foreach (var output in pipelineOutputs)
        {
            var views = Inference.Views(output);
            if (views.Count != 1)
                throw new DetSharpException($"{_path}: the ONNX model runs one view per image; test-time augmentation (MultiScaleFlipAug with several scales or flip) is not in the graph.");
            var view = views[0];
            using var scope = NewDisposeScope();
            var (input, meta) = GraphInput(view);
            using var imageValue = OrtValue.CreateTensorValueFromMemory(input.data<float>().ToArray(), input.shape);
            if (_rawHead is not null)
            {
                var raw = _rawHead.Detect(_session, imageValue, meta);
                results.Add(DetectionSet.FromResult(DetectionResult.FromTensors(raw.Dets, raw.Labels, null, classNames.Count), classNames, view.Filename,
                    view.OriShape.Height, view.OriShape.Width));
                continue;
            }
            using var shapeValue = OrtValue.CreateTensorValueFromMemory(new float[] { meta.ImgShape.Height, meta.ImgShape.Width }, [2]);
            using var run = new RunOptions();
            using var outputs = _session.Run(run, ["input", "img_shape"], [imageValue, shapeValue], WithMasks ? ["dets", "labels", "masks"] : ["dets", "labels"]);
            long n = outputs[1].GetTensorTypeAndShape().Shape[0];
            var dets = tensor(outputs[0].GetTensorDataAsSpan<float>().ToArray(), [n, 5]);
            var labels = tensor(outputs[1].GetTensorDataAsSpan<long>().ToArray(), [n]);
            // rescale=True: back to the original image, as the libtorch path divides by the scale factor.
            var boxes = dets[.., 0..4] / tensor(meta.ScaleFactor);
            Structures.Rle[]? masks = null;
            if (WithMasks)
            {
                // [N, h, w] probabilities of each detection's class, pasted into the original image as get_seg_masks does
                // with rescale=True (it takes the boxes in the network input's coordinates).
                long[] maskShape = outputs[2].GetTensorTypeAndShape().Shape;
                var probs = tensor(outputs[2].GetTensorDataAsSpan<float>().ToArray(), maskShape).unsqueeze(1);
                masks = Models.RoIHeads.FCNMaskHead.PasteSegMasks(probs, dets[.., 0..4], _maskThrBinary, meta, rescale: true);
            }
            var result = DetectionResult.FromTensors(cat([boxes, dets[.., 4..5]], 1), labels, masks, classNames.Count);
            results.Add(DetectionSet.FromResult(result, classNames, view.Filename, view.OriShape.Height, view.OriShape.Width));
        }
        return results;
    }

    /// <summary>
    /// The post-processing of a model exported without it: the config's dense head (built without weights: decoding
    /// uses only its priors, bbox_coder and test_cfg) runs <see cref="BaseDenseHead.GetBboxes"/> on the graph's maps
    /// of every level, as the libtorch <c>simple_test</c> does after the head's forward.
    /// </summary>
    private sealed class RawHead(BaseDenseHead head, string[] outputNames, int levels, bool withScoreFactors) : IDisposable
    {
        public void Dispose() => head.Dispose();

        public static RawHead Open(string path, InferenceSession session, DetSharp.Config.Config config)
        {
            int levels = 0;
            while (session.OutputMetadata.ContainsKey(Models.Onnx.OnnxDetectorExport.RawOutputNames(levels).ClsScore)) levels++;
            if (levels == 0) throw new DetSharpException($"{path}: exported without post-processing but has no cls_score_0 output; export it again with `detsharp export onnx`.");
            bool withFactors = session.OutputMetadata.ContainsKey(Models.Onnx.OnnxDetectorExport.RawOutputNames(0).ScoreFactor);
            var names = new List<string>();
            for (int l = 0; l < levels; l++)
            {
                var (cls, reg, factor) = Models.Onnx.OnnxDetectorExport.RawOutputNames(l);
                names.AddRange(withFactors ? [cls, reg, factor] : [cls, reg]);
            }
            Registry.ComponentRegistration.EnsureRegistered();
            var model = config.Get<Config.ConfigDict>("model");
            var head = SingleStageDetector.BuildHead(model.Get<Config.ConfigDict>("bbox_head"), null, model.Get<Config.ConfigDict?>("test_cfg", null));
            head.eval();
            return new RawHead(head, [.. names], levels, withFactors);
        }

        /// <summary>One image's detections in original-image coordinates (rescale=True).</summary>
        public DenseDetections Detect(InferenceSession session, OrtValue image, ImgMeta meta)
        {
            using var run = new RunOptions();
            using var outputs = session.Run(run, ["input"], [image], outputNames);
            int per = withScoreFactors ? 3 : 2;
            var cls = new Tensor[levels];
            var reg = new Tensor[levels];
            var factors = withScoreFactors ? new Tensor[levels] : null;
            for (int l = 0; l < levels; l++)
            {
                cls[l] = Map(outputs[l * per]);
                reg[l] = Map(outputs[l * per + 1]);
                if (factors is not null) factors[l] = Map(outputs[l * per + 2]);
            }
            return head.GetBboxes(new DenseHeadOutputs(cls, reg, factors), [meta], rescale: true)[0];
        }

        private static Tensor Map(OrtValue value) => tensor(value.GetTensorDataAsSpan<float>().ToArray(), value.GetTensorTypeAndShape().Shape);
    }

    private string Required(string key) =>
        Metadata.TryGetValue(key, out var value) ? value : throw new DetSharpException($"{_path}: the ONNX model's metadata has no '{key}'; export it again with `detsharp export onnx`.");

    public void Dispose()
    {
        _rawHead?.Dispose();
        _session.Dispose();
        _options.Dispose();
    }
}
