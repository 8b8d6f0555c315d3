using DetSharp.Config;
using DetSharp.Engine;
using DetSharp.Models.Common;
using DetSharp.Models.Losses;
using DetSharp.Models.Onnx;
using DetSharp.Models.TaskModules;
using DetSharp.Registry;
using DetSharp.Structures;
using DetSharp.Utils;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.RoIHeads;

/// <summary>
/// MMDetection's <c>FCNMaskHead</c> constructor arguments; heads that extend it (<c>HTCMaskHead</c>) take them as one
/// <see cref="InheritedArgumentsAttribute"/> parameter.
/// </summary>
public sealed record FCNMaskHeadArguments(
    int NumConvs = 4,
    int RoiFeatSize = 14,
    int InChannels = 256,
    int ConvKernelSize = 3,
    int ConvOutChannels = 256,
    int NumClasses = 80,
    bool ClassAgnostic = false,
    ConfigDict? UpsampleCfg = null,
    ConfigDict? ConvCfg = null,
    ConfigDict? NormCfg = null,
    ConfigDict? PredictorCfg = null,
    ConfigDict? LossMask = null,
    object? InitCfg = null);

/// <summary>
/// MMDetection's <c>FCNMaskHead</c>: <c>num_convs</c> 3×3 ConvModules with ReLU (<c>convs.i.conv</c>), a 2×
/// transposed-conv <c>upsample</c> + ReLU, and 1×1 <c>conv_logits</c> (num_classes channels, or 1 when class-agnostic;
/// built from <c>predictor_cfg</c>, e.g. <see cref="NormedConv2d"/>).
/// Targets: each positive proposal, clipped to the mask image, cropped from its GT mask and resized to
/// <c>mask_size</c> (binarised, <see cref="IInstanceMasks.CropAndResize"/>). Loss: <c>CrossEntropyLoss(use_mask=True)</c>.
/// Test: sigmoid, then each mask pasted into the image with grid_sample over its box (mmdet's <c>_do_paste_mask</c>)
/// and thresholded at <c>mask_thr_binary</c>.
/// </summary>
[Register(Registries.ModelsName, "FCNMaskHead")]
public class FCNMaskHead : nn.Module, IHasNumClasses, Weights.IHasInitCfg, IOnnxExportable
{
    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private readonly List<ConvModule> _convs = [];
    private readonly TorchSharp.Modules.ConvTranspose2d? _upsample;
    private readonly nn.Module<Tensor, Tensor> _convLogits;

    public FCNMaskHead([InheritedArguments] FCNMaskHeadArguments args)
        : this(nameof(FCNMaskHead), args)
    {
    }

    /// <summary>The FCN mask head under another name (a head that extends it, as <c>HTCMaskHead</c>).</summary>
    protected FCNMaskHead(string name, FCNMaskHeadArguments args)
        : base(name)
    {
        var (numConvs, roiFeatSize, inChannels, convKernelSize, convOutChannels, numClasses, classAgnostic, upsampleCfg, convCfg, normCfg,
            predictorCfg, lossMask, initCfg) = args;
        InitCfg = initCfg;
        ConvOutChannels = convOutChannels;
        ConvCfg = convCfg;
        NormCfg = normCfg;
        // MMDetection stores roi_feat_size but no layer depends on it: the mask size follows the RoI extractor's output.
        RoiFeatSize = roiFeatSize;
        upsampleCfg ??= new ConfigDict { ["type"] = "deconv", ["scale_factor"] = 2L };
        string upType = upsampleCfg.Get<string>("type");
        if (upType != "deconv") throw new DetSharpException($"FCNMaskHead: upsample type '{upType}' is not supported (use 'deconv').");
        int scale = upsampleCfg.Get("scale_factor", 2);
        NumClasses = numClasses;
        ClassAgnostic = classAgnostic;
        int pad = (convKernelSize - 1) / 2;
        for (int i = 0; i < numConvs; i++)
            _convs.Add(new ConvModule(i == 0 ? inChannels : convOutChannels, convOutChannels, convKernelSize, padding: pad, normCfg: normCfg, convCfg: convCfg));
        register_module("convs", nn.ModuleList(_convs.ToArray()));
        int upIn = numConvs > 0 ? convOutChannels : inChannels;
        _upsample = nn.ConvTranspose2d(upIn, convOutChannels, scale, stride: scale);
        register_module("upsample", _upsample);
        // predictor_cfg through build_conv_layer: Conv, or NormedConv2d in the Seesaw Loss configs.
        _convLogits = ConvLayers.Build(predictorCfg ?? new ConfigDict { ["type"] = "Conv" }, convOutChannels, classAgnostic ? 1 : numClasses, 1);
        register_module("conv_logits", _convLogits);
        ModuleTools.KaimingInit(_upsample);
        ModuleTools.KaimingInit(_convLogits);
        var loss = Builders.Loss(lossMask ?? new ConfigDict { ["type"] = "CrossEntropyLoss", ["use_mask"] = true, ["loss_weight"] = 1.0 });
        LossMask = loss as CrossEntropyLoss is { UseMask: true } ce ? ce : throw new DetSharpException("FCNMaskHead: loss_mask must be CrossEntropyLoss with use_mask=True.");
    }

    /// <summary>The <c>init_cfg</c> as given (applied by <see cref="Weights.PretrainedInit.InitWeights"/>).</summary>
    public object? InitCfg { get; }

    public int NumClasses { get; }

    public int RoiFeatSize { get; }

    public int ConvOutChannels { get; }

    protected ConfigDict? ConvCfg { get; }

    protected ConfigDict? NormCfg { get; }

    public bool ClassAgnostic { get; }

    public CrossEntropyLoss LossMask { get; }

    /// <summary>Mask logits [N, C, 2s, 2s] for RoI features [N, in, s, s].</summary>
    public Tensor Forward(Tensor x)
    {
        using var timed = Profiler.Scope(ProfilerSections.MaskHeadForward);
        return ForwardLogits(ForwardConvs(x));
    }

    /// <summary>
    /// <see cref="Forward"/> as ONNX nodes: <paramref name="inputs"/> is the RoI features [K, C, s, s]; returns the
    /// mask logits [K, classes, 2s, 2s] (convs, ConvTranspose upsample, ReLU, conv_logits).
    /// </summary>
    public IReadOnlyList<string> ExportOnnx(OnnxExportContext ctx, IReadOnlyList<string> inputs)
    {
        string x = inputs[0];
        foreach (var c in _convs) x = ctx.Forward(c, x);
        var up = _upsample!;
        var upInputs = new List<string> { x, ctx.Weight(up, "weight", up.weight!) };
        if (up.bias is { } bias) upInputs.Add(ctx.Weight(up, "bias", bias));
        x = ctx.Graph.Node("ConvTranspose", upInputs, ctx.ValueName(up), OnnxGraphBuilder.Attr("kernel_shape", up.kernel_size),
            OnnxGraphBuilder.Attr("strides", up.stride));
        x = ctx.Relu(x, ctx.ValueName(this, "relu"));
        return [ctx.Forward(_convLogits, x)];
    }

    /// <summary>
    /// The probabilities [N, h, w] of each detection's own class (channel 0 when class-agnostic) from the mask
    /// probabilities [N, classes, h, w], as <see cref="GetSegMasks"/> takes them before pasting.
    /// </summary>
    public string ExportLabelProbs(OnnxExportContext ctx, string probs, string labels, string name)
    {
        if (ClassAgnostic) return ctx.Squeeze(ctx.Slice(probs, 1, 0, 1, $"{name}.first"), name, 1);
        string shape = ctx.Concat([ctx.Dim(probs, 0, $"{name}.count"), ctx.Int64s($"{name}.one", [1]), ctx.Shape(probs, $"{name}.hw", 2, 4)],
            $"{name}.index_shape", 0);
        string index = ctx.Graph.Node("Expand", [ctx.Reshape(labels, $"{name}.labels4d", -1, 1, 1, 1), shape], $"{name}.index");
        return ctx.Squeeze(ctx.Graph.Node("GatherElements", [probs, index], $"{name}.gathered", OnnxGraphBuilder.Attr("axis", 1L)), name, 1);
    }

    /// <summary>The <c>convs</c> stack: the mask features before upsampling.</summary>
    protected Tensor ForwardConvs(Tensor x)
    {
        using var scope = NewDisposeScope();
        foreach (var c in _convs) x = c.forward(x);
        return x.MoveToOuterDisposeScope();
    }

    /// <summary><c>upsample</c> + ReLU and <c>conv_logits</c> on the convs' features.</summary>
    protected Tensor ForwardLogits(Tensor feat)
    {
        using var scope = NewDisposeScope();
        var x = nn.functional.relu(_upsample!.forward(feat));
        return _convLogits.forward(x).MoveToOuterDisposeScope();
    }

    /// <summary><c>get_targets</c>: [ΣP, mask_size, mask_size] binary targets for the positives of every image.</summary>
    public Tensor GetTargets(IReadOnlyList<SamplingResult> samplingResults, IReadOnlyList<IInstanceMasks> gtMasks, ConfigDict rcnnTrainCfg)
    {
        using var timed = Profiler.Scope(ProfilerSections.MaskHeadTargets);
        int size = rcnnTrainCfg.Get("mask_size", 28);
        var parts = new List<Tensor>();
        for (int i = 0; i < samplingResults.Count; i++)
        {
            var res = samplingResults[i];
            long n = res.PosBboxes.shape[0];
            if (n == 0)
            {
                parts.Add(zeros(0, size, size, ScalarType.Float32, res.PosBboxes.device));
                continue;
            }
            var masks = gtMasks[i];
            var boxes = res.PosBboxes.detach().to(CPU).to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
            for (int k = 0; k < boxes.Length; k += 4)
            {
                boxes[k] = Math.Clamp(boxes[k], 0, masks.Width);
                boxes[k + 2] = Math.Clamp(boxes[k + 2], 0, masks.Width);
                boxes[k + 1] = Math.Clamp(boxes[k + 1], 0, masks.Height);
                boxes[k + 3] = Math.Clamp(boxes[k + 3], 0, masks.Height);
            }
            var inds = res.PosAssignedGtInds.to(CPU).data<long>().Select(v => (int)v).ToArray();
            var targets = masks.CropAndResize(boxes, inds, size, size);
            parts.Add(tensor(targets, [n, size, size]).to(res.PosBboxes.device));
        }
        return cat(parts, 0);
    }

    /// <summary><c>loss</c>: <c>loss_mask</c> = mean binary cross-entropy of each positive's label channel.</summary>
    public Tensor Loss(Tensor maskPred, Tensor maskTargets, Tensor labels)
    {
        using var timed = Profiler.Scope(ProfilerSections.MaskHeadLoss);
        if (maskPred.shape[0] == 0) return maskPred.sum();
        return LossMask.ForwardMask(maskPred, maskTargets, ClassAgnostic ? zeros_like(labels) : labels);
    }

    /// <summary>
    /// <c>get_seg_masks</c> for one image, encoded as RLE: <paramref name="maskProbs"/> [N, C or 1, m, m] are
    /// probabilities (already sigmoid/averaged); <paramref name="bboxes"/> [N, 4] in the network input's coordinates
    /// when <paramref name="rescale"/> (divided by the scale factor here, as MMDetection) — the masks are pasted into
    /// the original image (<c>ori_shape</c>) or, without rescale, into the scaled original size.
    /// </summary>
    public Rle[] GetSegMasks(Tensor maskProbs, Tensor bboxes, Tensor labels, double maskThrBinary, ImgMeta meta, bool rescale)
    {
        using var timed = Profiler.Scope(ProfilerSections.MaskHeadPaste);
        using var scope = NewDisposeScope();
        long n = maskProbs.shape[0];
        if (!ClassAgnostic && n > 0)
            maskProbs = maskProbs[arange(n, dtype: ScalarType.Int64, device: maskProbs.device), labels.to_type(ScalarType.Int64)].unsqueeze(1);
        return PasteSegMasks(maskProbs, bboxes, maskThrBinary, meta, rescale);
    }

    /// <summary>
    /// The pasting half of <see cref="GetSegMasks"/>, for masks whose class channel is already chosen (an ONNX model's
    /// <c>masks</c> output): <paramref name="maskProbs"/> [N, 1, m, m], boxes and rescale as there.
    /// </summary>
    public static Rle[] PasteSegMasks(Tensor maskProbs, Tensor bboxes, double maskThrBinary, ImgMeta meta, bool rescale)
    {
        using var scope = NewDisposeScope();
        int imgH, imgW;
        var sf = tensor(meta.ScaleFactor, device: bboxes.device);
        if (rescale)
        {
            (imgH, imgW) = meta.OriShape;
            bboxes = bboxes / sf;
        }
        else
        {
            imgH = (int)Math.Round(meta.OriShape.Height * (double)meta.ScaleFactor[1], MidpointRounding.ToEven);
            imgW = (int)Math.Round(meta.OriShape.Width * (double)meta.ScaleFactor[0], MidpointRounding.ToEven);
        }
        long n = maskProbs.shape[0];
        // TorchSharp's ToArray throws on an empty tensor: an image without detections has no masks.
        if (n == 0) return [];
        var result = new Rle[n];
        var boxArr = bboxes.to(CPU).contiguous().data<float>().ToArray();
        for (int i = 0; i < n; i++)
        {
            using var inner = NewDisposeScope();
            var (pasted, y0, y1, x0, x1) = PasteMask(maskProbs[i..(i + 1)], bboxes[i..(i + 1)], boxArr.AsSpan(i * 4, 4), imgH, imgW);
            if (x1 <= x0 || y1 <= y0)
            {
                result[i] = Rle.EncodeRegion([], 0, 0, 0, 0, imgH, imgW);
                continue;
            }
            // Only the box's region can be foreground: encode it in place of the whole image.
            var bin = (pasted >= maskThrBinary).to_type(ScalarType.Byte).contiguous();
            result[i] = Rle.EncodeRegion(bin.data<byte>().ToArray(), y0, y1, x0, x1, imgH, imgW);
        }
        return result;
    }

    /// <summary>
    /// mmdet's <c>_do_paste_mask(skip_empty=True)</c> for one box: the mask [1, 1, m, m] sampled (bilinear, zeros outside,
    /// align_corners=False) at the pixel centres of the box's region grown by one pixel and clipped to the image.
    /// Returns the region [y1−y0, x1−x0] and its bounds.
    /// </summary>
    public static (Tensor Region, int Y0, int Y1, int X0, int X1) PasteMask(Tensor mask, Tensor box, ReadOnlySpan<float> b, int imgH, int imgW)
    {
        int x0Int = (int)Math.Max(MathF.Floor(b[0]) - 1, 0);
        int y0Int = (int)Math.Max(MathF.Floor(b[1]) - 1, 0);
        int x1Int = (int)Math.Min(MathF.Ceiling(b[2]) + 1, imgW);
        int y1Int = (int)Math.Min(MathF.Ceiling(b[3]) + 1, imgH);
        var device = mask.device;
        var x0 = box[.., 0..1];
        var y0 = box[.., 1..2];
        var x1 = box[.., 2..3];
        var y1 = box[.., 3..4];
        var imgY = arange(y0Int, y1Int, dtype: ScalarType.Int64, device: device).to_type(ScalarType.Float32) + 0.5f;
        var imgX = arange(x0Int, x1Int, dtype: ScalarType.Int64, device: device).to_type(ScalarType.Float32) + 0.5f;
        imgY = (imgY - y0) / (y1 - y0) * 2 - 1;
        imgX = (imgX - x0) / (x1 - x0) * 2 - 1;
        imgX = where(isinf(imgX), zeros_like(imgX), imgX);
        imgY = where(isinf(imgY), zeros_like(imgY), imgY);
        long h = imgY.shape[1], w = imgX.shape[1];
        var gx = imgX[.., TensorIndex.None, ..].expand(1, h, w);
        var gy = imgY[.., .., TensorIndex.None].expand(1, h, w);
        var grid = stack([gx, gy], 3);
        var sampled = nn.functional.grid_sample(mask.to_type(ScalarType.Float32), grid, align_corners: false);
        return (sampled[0, 0], y0Int, y1Int, x0Int, x1Int);
    }
}
