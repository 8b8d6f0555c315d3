using DetSharp.Config;
using DetSharp.Engine;
using DetSharp.Models.Common;
using DetSharp.Models.Losses;
using DetSharp.Models.Onnx;
using DetSharp.Models.Onnx.Proto;
using DetSharp.Models.TaskModules;
using DetSharp.Ops;
using DetSharp.Registry;
using DetSharp.Utils;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.RoIHeads;

/// <summary>The classification/regression targets of a batch of sampled RoIs (<c>BBoxHead.get_targets</c>).</summary>
public sealed record BBoxTargets(Tensor Labels, Tensor LabelWeights, Tensor BboxTargets, Tensor BboxWeights);

/// <summary>
/// MMDetection's <c>ConvFCBBoxHead</c> (with <c>BBoxHead</c>'s targets, loss and test-time decoding):
/// optional shared convs/fcs, then per-branch convs/fcs, <c>fc_cls</c> (num_classes + 1, background last) and
/// <c>fc_reg</c> (4 per class, or 4 with <c>reg_class_agnostic</c>). Keys: <c>fc_cls</c>, <c>fc_reg</c>,
/// <c>shared_convs.i.conv</c>, <c>shared_fcs.i</c>, <c>cls_convs</c>, <c>cls_fcs</c>, <c>reg_convs</c>, <c>reg_fcs</c>.
/// <c>cls_predictor_cfg</c> may be <c>Linear</c> or <c>NormedLinear</c>; a loss with its own classifier layout
/// (<see cref="ICustomClsLoss"/>, SeesawLoss) sets the classifier's size, the test-time scores, the accuracies and the
/// loss entries, and a loss with buffers sits in the state dict under <c>loss_cls</c> before <c>fc_cls</c>.
/// </summary>
[Register(Registries.ModelsName, "ConvFCBBoxHead")]
public class ConvFCBBoxHead : nn.Module, IHasNumClasses, Weights.IHasInitCfg, IOnnxExportable
{
    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private readonly List<ConvModule> _sharedConvs, _clsConvs, _regConvs;
    private readonly List<TorchSharp.Modules.Linear> _sharedFcs, _clsFcs, _regFcs;
    private readonly nn.Module<Tensor, Tensor>? _fcCls;
    private readonly TorchSharp.Modules.Linear? _fcReg;
    private readonly bool _withAvgPool;
    private readonly int _roiFeatArea;

    public ConvFCBBoxHead(
        int numSharedConvs = 0,
        int numSharedFcs = 0,
        int numClsConvs = 0,
        int numClsFcs = 0,
        int numRegConvs = 0,
        int numRegFcs = 0,
        int convOutChannels = 256,
        int fcOutChannels = 1024,
        ConfigDict? convCfg = null,
        ConfigDict? normCfg = null,
        bool withAvgPool = false,
        bool withCls = true,
        bool withReg = true,
        int roiFeatSize = 7,
        int inChannels = 256,
        int numClasses = 80,
        ConfigDict? bboxCoder = null,
        bool regClassAgnostic = false,
        bool regDecodedBbox = false,
        ConfigDict? regPredictorCfg = null,
        ConfigDict? clsPredictorCfg = null,
        ConfigDict? lossCls = null,
        ConfigDict? lossBbox = null,
        object? initCfg = null)
        : this(nameof(ConvFCBBoxHead), numSharedConvs, numSharedFcs, numClsConvs, numClsFcs, numRegConvs, numRegFcs, convOutChannels,
            fcOutChannels, convCfg, normCfg, withAvgPool, withCls, withReg, roiFeatSize, inChannels, numClasses, bboxCoder,
            regClassAgnostic, regDecodedBbox, regPredictorCfg, clsPredictorCfg, lossCls, lossBbox, initCfg)
    {
    }

    protected ConvFCBBoxHead(
        string name, int numSharedConvs, int numSharedFcs, int numClsConvs, int numClsFcs, int numRegConvs, int numRegFcs,
        int convOutChannels, int fcOutChannels, ConfigDict? convCfg, ConfigDict? normCfg, bool withAvgPool, bool withCls, bool withReg,
        int roiFeatSize, int inChannels, int numClasses, ConfigDict? bboxCoder, bool regClassAgnostic, bool regDecodedBbox,
        ConfigDict? regPredictorCfg, ConfigDict? clsPredictorCfg, ConfigDict? lossCls, ConfigDict? lossBbox, object? initCfg)
        : base(name)
    {
        if (regPredictorCfg is not null && regPredictorCfg.Get<string>("type") != "Linear")
            throw new DetSharpException($"{name}: reg_predictor_cfg: only Linear predictors are supported.");
        if (clsPredictorCfg is not null && clsPredictorCfg.Get<string>("type") is not ("Linear" or "NormedLinear"))
            throw new DetSharpException($"{name}: cls_predictor_cfg: only Linear and NormedLinear predictors are supported.");
        if (!withCls && !withReg) throw new DetSharpException($"{name}: with_cls and with_reg cannot both be False.");
        InitCfg = initCfg;
        NumClasses = numClasses;
        RegClassAgnostic = regClassAgnostic;
        RegDecodedBbox = regDecodedBbox;
        _withAvgPool = withAvgPool;
        _roiFeatArea = roiFeatSize * roiFeatSize;
        BboxCoder = Builders.TaskModule<IBBoxCoder>(bboxCoder ?? new ConfigDict
        {
            ["type"] = "DeltaXYWHBBoxCoder", ["clip_border"] = true,
            ["target_means"] = new ConfigList([0.0, 0.0, 0.0, 0.0]), ["target_stds"] = new ConfigList([0.1, 0.1, 0.2, 0.2]),
        });
        LossCls = Builders.Loss(lossCls ?? new ConfigDict { ["type"] = "CrossEntropyLoss", ["use_sigmoid"] = false, ["loss_weight"] = 1.0 });
        LossBbox = Builders.Loss(lossBbox ?? new ConfigDict { ["type"] = "SmoothL1Loss", ["beta"] = 1.0, ["loss_weight"] = 1.0 });
        if (LossCls is CrossEntropyLoss { UseSigmoid: true })
            throw new DetSharpException($"{name}: a sigmoid classification loss is not supported for the RoI bbox head.");

        (int lastDim, _sharedConvs, _sharedFcs) = Branch(numSharedConvs, numSharedFcs, inChannels, true, numSharedFcs, convOutChannels, fcOutChannels, normCfg, convCfg);
        int sharedOut = lastDim;
        (int clsDim, _clsConvs, _clsFcs) = Branch(numClsConvs, numClsFcs, sharedOut, false, numSharedFcs, convOutChannels, fcOutChannels, normCfg, convCfg);
        (int regDim, _regConvs, _regFcs) = Branch(numRegConvs, numRegFcs, sharedOut, false, numSharedFcs, convOutChannels, fcOutChannels, normCfg, convCfg);
        if (numSharedFcs == 0 && !withAvgPool)
        {
            if (numClsFcs == 0) clsDim *= _roiFeatArea;
            if (numRegFcs == 0) regDim *= _roiFeatArea;
        }
        // MMDetection builds the losses first: their buffers come first in the state dict.
        if (LossCls is IStatefulLoss clsState) register_module("loss_cls", clsState.State);
        if (LossBbox is IStatefulLoss bboxState) register_module("loss_bbox", bboxState.State);
        if (withCls)
        {
            int clsChannels = LossCls is ICustomClsLoss custom ? custom.GetClsChannels(numClasses) : numClasses + 1;
            _fcCls = clsPredictorCfg?.Get<string>("type") == "NormedLinear"
                ? NormedLinear.FromConfig(clsPredictorCfg, clsDim, clsChannels)
                : nn.Linear(clsDim, clsChannels);
            register_module("fc_cls", _fcCls);
            ModuleTools.NormalInit(_fcCls, 0, 0.01);
        }
        if (withReg)
        {
            _fcReg = nn.Linear(regDim, regClassAgnostic ? 4 : 4 * numClasses);
            register_module("fc_reg", _fcReg);
            ModuleTools.NormalInit(_fcReg, 0, 0.001);
        }
        register_module("shared_convs", nn.ModuleList(_sharedConvs.ToArray()));
        register_module("shared_fcs", nn.ModuleList(_sharedFcs.ToArray()));
        register_module("cls_convs", nn.ModuleList(_clsConvs.ToArray()));
        register_module("cls_fcs", nn.ModuleList(_clsFcs.ToArray()));
        register_module("reg_convs", nn.ModuleList(_regConvs.ToArray()));
        register_module("reg_fcs", nn.ModuleList(_regFcs.ToArray()));
        foreach (var fc in _sharedFcs.Concat(_clsFcs).Concat(_regFcs)) ModuleTools.XavierUniformInit(fc);
    }

    private (int, List<ConvModule>, List<TorchSharp.Modules.Linear>) Branch(int numConvs, int numFcs, int inChannels, bool isShared, int numSharedFcs,
        int convOut, int fcOut, ConfigDict? normCfg, ConfigDict? convCfg)
    {
        int last = inChannels;
        var convs = new List<ConvModule>();
        for (int i = 0; i < numConvs; i++)
            convs.Add(new ConvModule(i == 0 ? last : convOut, convOut, 3, padding: 1, normCfg: normCfg, convCfg: convCfg));
        if (numConvs > 0) last = convOut;
        var fcs = new List<TorchSharp.Modules.Linear>();
        if (numFcs > 0)
        {
            if ((isShared || numSharedFcs == 0) && !_withAvgPool) last *= _roiFeatArea;
            for (int i = 0; i < numFcs; i++)
                fcs.Add(nn.Linear(i == 0 ? last : fcOut, fcOut));
            last = fcOut;
        }
        return (last, convs, fcs);
    }

    /// <summary>The <c>init_cfg</c> as given (applied by <see cref="Weights.PretrainedInit.InitWeights"/>).</summary>
    public object? InitCfg { get; }

    public int NumClasses { get; }

    public bool RegClassAgnostic { get; }

    /// <summary>
    /// <c>reg_decoded_bbox</c>: the regression loss compares decoded boxes with the GT boxes (IoU-family losses) instead
    /// of deltas with encoded targets.
    /// </summary>
    public bool RegDecodedBbox { get; }

    public IBBoxCoder BboxCoder { get; }

    public LossBase LossCls { get; }

    public LossBase LossBbox { get; }

    /// <summary>Classification logits [N, C+1] and deltas [N, 4] or [N, 4C] for RoI features [N, C, s, s].</summary>
    public (Tensor ClsScore, Tensor BboxPred) Forward(Tensor x)
    {
        using var timed = Profiler.Scope(ProfilerSections.BboxHeadForward);
        using var scope = NewDisposeScope();
        foreach (var c in _sharedConvs) x = c.forward(x);
        if (_sharedFcs.Count > 0)
        {
            if (_withAvgPool) x = nn.functional.adaptive_avg_pool2d(x, 1);
            x = x.flatten(1);
            foreach (var fc in _sharedFcs) x = nn.functional.relu(fc.forward(x));
        }
        var xc = x;
        var xr = x;
        foreach (var c in _clsConvs) xc = c.forward(xc);
        if (xc.dim() > 2)
        {
            if (_withAvgPool) xc = nn.functional.adaptive_avg_pool2d(xc, 1);
            xc = xc.flatten(1);
        }
        foreach (var fc in _clsFcs) xc = nn.functional.relu(fc.forward(xc));
        foreach (var c in _regConvs) xr = c.forward(xr);
        if (xr.dim() > 2)
        {
            if (_withAvgPool) xr = nn.functional.adaptive_avg_pool2d(xr, 1);
            xr = xr.flatten(1);
        }
        foreach (var fc in _regFcs) xr = nn.functional.relu(fc.forward(xr));
        var cls = _fcCls!.forward(xc);
        var reg = _fcReg!.forward(xr);
        return (cls.MoveToOuterDisposeScope(), reg.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// <see cref="Forward"/> as ONNX nodes: <paramref name="inputs"/> is the RoI features [K, C, s, s]; returns the
    /// logits [K, C+1] and the deltas [K, 4] or [K, 4C].
    /// </summary>
    public IReadOnlyList<string> ExportOnnx(OnnxExportContext ctx, IReadOnlyList<string> inputs)
    {
        string x = inputs[0];
        foreach (var c in _sharedConvs) x = ctx.Forward(c, x);
        bool flat = false;
        if (_sharedFcs.Count > 0)
        {
            x = ExportFlatten(ctx, x, "shared_flat");
            flat = true;
            for (int i = 0; i < _sharedFcs.Count; i++) x = ctx.Relu(ctx.Forward(_sharedFcs[i], x), ctx.ValueName(this, $"shared_fcs.{i}.relu"));
        }
        string xc = ExportBranch(ctx, x, flat, _clsConvs, _clsFcs, "cls");
        string xr = ExportBranch(ctx, x, flat, _regConvs, _regFcs, "reg");
        return [ctx.Forward(_fcCls ?? throw ctx.Unsupported(this, "with_cls=False"), xc), ctx.Forward(_fcReg ?? throw ctx.Unsupported(this, "with_reg=False"), xr)];
    }

    private string ExportBranch(OnnxExportContext ctx, string x, bool flat, List<ConvModule> convs, List<TorchSharp.Modules.Linear> fcs, string branch)
    {
        foreach (var c in convs) x = ctx.Forward(c, x);
        if (!flat) x = ExportFlatten(ctx, x, $"{branch}_flat");
        for (int i = 0; i < fcs.Count; i++) x = ctx.Relu(ctx.Forward(fcs[i], x), ctx.ValueName(this, $"{branch}_fcs.{i}.relu"));
        return x;
    }

    private string ExportFlatten(OnnxExportContext ctx, string x, string name)
    {
        if (_withAvgPool) x = ctx.Graph.Node("GlobalAveragePool", [x], ctx.ValueName(this, $"{name}.avg_pool"));
        return ctx.Flatten(x, ctx.ValueName(this, name));
    }

    /// <summary>
    /// <see cref="GetBboxes"/> (rescale=False) as ONNX nodes for one image: softmax scores, the deltas decoded from
    /// <paramref name="rois"/> [K, 4] per class and clipped to <paramref name="maxWhwh"/> (the image's w, h, w, h), then
    /// <c>multiclass_nms</c>: the (RoI, class) pairs scoring above score_thr in the flattened order, NMS per class
    /// (<see cref="OnnxExportContext.BatchedNms"/>) and the first max_per_img. Returns dets [N, 5] and labels [N] (int64).
    /// </summary>
    public (string Dets, string Labels) ExportGetBboxes(OnnxExportContext ctx, string rois, string clsScore, string bboxPred, string maxWhwh, ConfigDict cfg)
    {
        if (LossCls is ICustomClsLoss) throw ctx.Unsupported(this, $"{LossCls.GetType().Name}'s own score activation");
        if (BboxCoder is not IOnnxBBoxCoder coder) throw ctx.Unsupported(this, $"its bbox_coder {BboxCoder.GetType().Name} has no ONNX export");
        string name = ctx.ValueName(this, "detections");
        long c = NumClasses;
        string scores = ctx.Softmax(clsScore, $"{name}.softmax", -1);
        string perRoi = ctx.Concat([ctx.Dim(rois, 0, $"{name}.count"), ctx.Int64s($"{name}.classes", [c])], $"{name}.per_roi", 0);
        string boxes;
        if (RegClassAgnostic)
        {
            // One box per RoI, shared by its classes: [K, 4] -> [K, C, 4], as multiclass_nms expands it.
            string shape = ctx.Concat([perRoi, ctx.Int64s($"{name}.four", [4])], $"{name}.expand_shape", 0);
            boxes = ctx.Graph.Node("Expand", [ctx.Unsqueeze(coder.ExportDecode(ctx, rois, bboxPred, maxWhwh, $"{name}.decoded"), $"{name}.boxes3d", 1), shape],
                $"{name}.expanded");
        }
        else
        {
            // Per class: priors [K, 1, 4] against deltas [K, C, 4].
            boxes = coder.ExportDecode(ctx, ctx.Unsqueeze(rois, $"{name}.rois3d", 1), ctx.Reshape(bboxPred, $"{name}.class_deltas", 0, c, 4), maxWhwh,
                $"{name}.decoded");
        }
        boxes = ctx.Reshape(boxes, $"{name}.class_boxes", -1, 4);
        string s = ctx.Reshape(ctx.Slice(scores, 1, 0, c, $"{name}.fg_scores"), $"{name}.flat_scores", -1);
        string classIds = ctx.Int64s($"{name}.class_ids", [.. Enumerable.Range(0, NumClasses).Select(i => (long)i)]);
        string labels = ctx.Reshape(ctx.Graph.Node("Expand", [classIds, perRoi], $"{name}.label_grid"), $"{name}.flat_labels", -1);
        string valid = ctx.Graph.Node("Greater", [s, ctx.Scalar($"{name}.score_thr", (float)cfg.Get<double>("score_thr"))], $"{name}.valid");
        boxes = ctx.Compress(boxes, valid, $"{name}.valid_boxes");
        s = ctx.Compress(s, valid, $"{name}.valid_scores");
        labels = ctx.Compress(labels, valid, $"{name}.valid_labels");
        int maxPerImg = cfg.Get("max_per_img", -1);
        string keep = ctx.BatchedNms(boxes, s, labels, Builders.Nms(cfg.Get<ConfigDict>("nms")), maxPerImg > 0 ? maxPerImg : int.MaxValue, $"{name}.nms");
        string dets = ctx.Concat([ctx.Gather(boxes, keep, 0, $"{name}.boxes"), ctx.Unsqueeze(ctx.Gather(s, keep, 0, $"{name}.kept_scores"), $"{name}.scores2d", 1)],
            name, 1);
        return (dets, ctx.Gather(labels, keep, 0, $"{name}.labels"));
    }

    /// <summary>
    /// <see cref="RegressByClass"/> as ONNX nodes: <paramref name="rois"/> [K, 4] moved by the deltas of
    /// <paramref name="labels"/> [K] (int64; or the class-agnostic ones), clipped to <paramref name="maxWhwh"/>.
    /// </summary>
    public string ExportRegressByClass(OnnxExportContext ctx, string rois, string labels, string bboxPred, string maxWhwh, string name)
    {
        if (BboxCoder is not IOnnxBBoxCoder coder) throw ctx.Unsupported(this, $"its bbox_coder {BboxCoder.GetType().Name} has no ONNX export");
        if (!RegClassAgnostic)
        {
            // gather(bbox_pred, 1, label * 4 + [0, 1, 2, 3]).
            string l4 = ctx.Mul(ctx.Unsqueeze(labels, $"{name}.labels2d", 1), ctx.Int64s($"{name}.four", [4]), $"{name}.l4");
            string inds = ctx.Add(l4, ctx.Int64s($"{name}.offsets", [0, 1, 2, 3]), $"{name}.inds");
            bboxPred = ctx.Graph.Node("GatherElements", [bboxPred, inds], $"{name}.deltas", OnnxGraphBuilder.Attr("axis", 1L));
        }
        return coder.ExportDecode(ctx, rois, bboxPred, maxWhwh, name);
    }

    /// <summary><c>get_targets</c> over images, concatenated: labels (num_classes = background), weights, encoded deltas (GT boxes with <c>reg_decoded_bbox</c>).</summary>
    public BBoxTargets GetTargets(IReadOnlyList<SamplingResult> samplingResults, ConfigDict rcnnTrainCfg)
    {
        using var timed = Profiler.Scope(ProfilerSections.BboxHeadTargets);
        double posWeight = rcnnTrainCfg.Get("pos_weight", -1.0);
        var labels = new List<Tensor>();
        var lws = new List<Tensor>();
        var bts = new List<Tensor>();
        var bws = new List<Tensor>();
        foreach (var res in samplingResults)
        {
            long numPos = res.PosBboxes.shape[0], numNeg = res.NegBboxes.shape[0], n = numPos + numNeg;
            var device = res.PosBboxes.device;
            var lab = full(n, (long)NumClasses, ScalarType.Int64, device);
            var lw = zeros(n, ScalarType.Float32, device);
            var bt = zeros(n, 4, ScalarType.Float32, device);
            var bw = zeros(n, 4, ScalarType.Float32, device);
            if (numPos > 0)
            {
                lab[..(int)numPos] = res.PosGtLabels!;
                lw[..(int)numPos] = posWeight <= 0 ? 1f : (float)posWeight;
                bt[..(int)numPos] = RegDecodedBbox ? res.PosGtBboxes : BboxCoder.Encode(res.PosBboxes, res.PosGtBboxes);
                bw[..(int)numPos] = 1f;
            }
            if (numNeg > 0) lw[(int)numPos..] = 1f;
            labels.Add(lab);
            lws.Add(lw);
            bts.Add(bt);
            bws.Add(bw);
        }
        return new BBoxTargets(cat(labels), cat(lws), cat(bts), cat(bws));
    }

    /// <summary>
    /// <c>loss</c>: <c>loss_cls</c> (averaged over RoIs with weight &gt; 0), <c>acc</c>, <c>loss_bbox</c> (positives, averaged
    /// over all RoIs). With <c>reg_decoded_bbox</c> the deltas are first decoded from <paramref name="rois"/> [N, 5] (unclipped).
    /// </summary>
    public LossDict Loss(Tensor clsScore, Tensor bboxPred, Tensor rois, BBoxTargets t)
    {
        using var timed = Profiler.Scope(ProfilerSections.BboxHeadLoss);
        var losses = new LossDict();
        if (clsScore.numel() > 0)
        {
            double avgFactor = Math.Max((t.LabelWeights > 0).sum().item<long>(), 1.0);
            if (LossCls is ICustomClsLoss custom)
            {
                foreach (var (key, value) in custom.Losses(clsScore, t.Labels, t.LabelWeights, avgFactor)) losses.Add(key, value);
                foreach (var (key, value) in custom.GetAccuracy(clsScore, t.Labels)) losses.Add(key, value);
            }
            else
            {
                losses.Add("loss_cls", LossCls.Forward(clsScore, t.Labels, t.LabelWeights, avgFactor));
                losses.Add("acc", Accuracy.Top1(clsScore, t.Labels));
            }
        }
        var pos = (t.Labels >= 0) & (t.Labels < NumClasses);
        if (pos.any().item<bool>())
        {
            long n = bboxPred.shape[0];
            if (RegDecodedBbox) bboxPred = BboxCoder.Decode(rois[.., 1..], bboxPred);
            Tensor posPred;
            if (RegClassAgnostic) posPred = bboxPred.view(n, 4)[pos];
            else
            {
                var posIdx = nonzero(pos).view(-1);
                posPred = bboxPred.view(n, -1, 4)[posIdx, t.Labels[posIdx]];
            }
            losses.Add("loss_bbox", LossBbox.Forward(posPred, t.BboxTargets[pos], t.BboxWeights[pos], t.BboxTargets.shape[0]));
        }
        else
        {
            losses.Add("loss_bbox", bboxPred[pos].sum());
        }
        return losses;
    }

    /// <summary>
    /// <c>get_bboxes</c> for one image: softmax scores (or the custom loss's activation), boxes decoded from <paramref name="rois"/> [N, 5] clipped to the
    /// image, divided by the scale factor when <paramref name="rescale"/>, then <c>multiclass_nms</c> with
    /// <paramref name="cfg"/> (score_thr, nms, max_per_img). Returns dets [K, 5] and labels [K].
    /// </summary>
    public (Tensor Dets, Tensor Labels) GetBboxes(Tensor rois, Tensor clsScore, Tensor bboxPred, ImgMeta meta, bool rescale, ConfigDict cfg)
    {
        using var timed = Profiler.Scope(ProfilerSections.BboxHeadBoxes);
        using var scope = NewDisposeScope();
        var (bboxes, scores) = DecodeBboxes(rois, clsScore, bboxPred, meta, rescale);
        var r = Nms.MulticlassNms(bboxes, scores, cfg.Get<double>("score_thr"), Builders.Nms(cfg.Get<ConfigDict>("nms")), cfg.Get("max_per_img", -1));
        return (r.Dets.MoveToOuterDisposeScope(), r.Labels.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// <c>get_bboxes</c> with <c>cfg=None</c> (before NMS, what test-time augmentation merges): boxes [N, 4·C or 4]
    /// decoded from <paramref name="rois"/> and clipped to the image (divided by the scale factor when
    /// <paramref name="rescale"/>), and the scores [N, C+1].
    /// </summary>
    public (Tensor Bboxes, Tensor Scores) DecodeBboxes(Tensor rois, Tensor clsScore, Tensor bboxPred, ImgMeta meta, bool rescale)
    {
        using var scope = NewDisposeScope();
        var scores = LossCls is ICustomClsLoss custom ? custom.GetActivation(clsScore) : nn.functional.softmax(clsScore, -1);
        var bboxes = BboxCoder.Decode(rois[.., 1..], bboxPred, meta.ImgShape);
        if (rescale && bboxes.shape[0] > 0)
        {
            var sf = tensor(meta.ScaleFactor, device: bboxes.device);
            bboxes = (bboxes.view(bboxes.shape[0], -1, 4) / sf).view(bboxes.shape[0], -1);
        }
        return (bboxes.MoveToOuterDisposeScope(), scores.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// What the cascade takes the argmax of when it refines RoIs: the custom loss's scores (<c>custom_activation</c>), else
    /// the logits themselves (same argmax as their softmax).
    /// </summary>
    public Tensor RefinementScores(Tensor clsScore) => LossCls is ICustomClsLoss custom ? custom.GetActivation(clsScore) : clsScore;

    /// <summary><c>regress_by_class</c>: decodes the deltas of each RoI's label (or the agnostic ones); keeps the batch column of [N, 5] RoIs.</summary>
    public Tensor RegressByClass(Tensor rois, Tensor label, Tensor bboxPred, ImgMeta meta)
    {
        using var scope = NewDisposeScope();
        if (!RegClassAgnostic)
        {
            var l4 = label * 4;
            var inds = stack([l4, l4 + 1, l4 + 2, l4 + 3], 1);
            bboxPred = gather(bboxPred, 1, inds);
        }
        Tensor result;
        if (rois.shape[1] == 4) result = BboxCoder.Decode(rois, bboxPred, meta.ImgShape);
        else result = cat([rois[.., 0..1], BboxCoder.Decode(rois[.., 1..], bboxPred, meta.ImgShape)], 1);
        return result.MoveToOuterDisposeScope();
    }

    /// <summary><c>refine_bboxes</c>: per image the regressed RoIs [n, 4] with the GT boxes added as proposals removed.</summary>
    public List<Tensor> RefineBboxes(Tensor rois, Tensor labels, Tensor bboxPreds, IReadOnlyList<Tensor> posIsGts, IReadOnlyList<ImgMeta> metas)
    {
        var list = new List<Tensor>();
        for (int i = 0; i < metas.Count; i++)
        {
            using var scope = NewDisposeScope();
            var inds = nonzero(rois[.., 0] == i).view(-1);
            long numRois = inds.numel();
            var bboxes = RegressByClass(rois[inds][.., 1..], labels[inds], bboxPreds[inds], metas[i]);
            var posIsGt = posIsGts[i];
            var keep = ones(numRois, ScalarType.Byte, rois.device);
            if (posIsGt.numel() > 0) keep[..(int)posIsGt.numel()] = 1 - posIsGt;
            list.Add(bboxes[keep.to_type(ScalarType.Bool)].MoveToOuterDisposeScope());
        }
        return list;
    }
}

/// <summary>MMDetection's <c>Shared2FCBBoxHead</c>: <see cref="ConvFCBBoxHead"/> with two shared fully connected layers.</summary>
[Register(Registries.ModelsName, "Shared2FCBBoxHead")]
public sealed class Shared2FCBBoxHead(
    int fcOutChannels = 1024, bool withAvgPool = false, bool withCls = true, bool withReg = true, int roiFeatSize = 7, int inChannels = 256,
    int numClasses = 80, ConfigDict? bboxCoder = null, bool regClassAgnostic = false, bool regDecodedBbox = false,
    ConfigDict? regPredictorCfg = null, ConfigDict? clsPredictorCfg = null, ConfigDict? lossCls = null, ConfigDict? lossBbox = null,
    int convOutChannels = 256, ConfigDict? convCfg = null, ConfigDict? normCfg = null, object? initCfg = null)
    : ConvFCBBoxHead(nameof(Shared2FCBBoxHead), 0, 2, 0, 0, 0, 0, convOutChannels, fcOutChannels, convCfg, normCfg, withAvgPool, withCls,
        withReg, roiFeatSize, inChannels, numClasses, bboxCoder, regClassAgnostic, regDecodedBbox, regPredictorCfg, clsPredictorCfg, lossCls,
        lossBbox, initCfg);

/// <summary>MMDetection's <c>Shared4Conv1FCBBoxHead</c>: four shared 3×3 convs then one shared fully connected layer.</summary>
[Register(Registries.ModelsName, "Shared4Conv1FCBBoxHead")]
public sealed class Shared4Conv1FCBBoxHead(
    int fcOutChannels = 1024, bool withAvgPool = false, bool withCls = true, bool withReg = true, int roiFeatSize = 7, int inChannels = 256,
    int numClasses = 80, ConfigDict? bboxCoder = null, bool regClassAgnostic = false, bool regDecodedBbox = false,
    ConfigDict? regPredictorCfg = null, ConfigDict? clsPredictorCfg = null, ConfigDict? lossCls = null, ConfigDict? lossBbox = null,
    int convOutChannels = 256, ConfigDict? convCfg = null, ConfigDict? normCfg = null, object? initCfg = null)
    : ConvFCBBoxHead(nameof(Shared4Conv1FCBBoxHead), 4, 1, 0, 0, 0, 0, convOutChannels, fcOutChannels, convCfg, normCfg, withAvgPool, withCls,
        withReg, roiFeatSize, inChannels, numClasses, bboxCoder, regClassAgnostic, regDecodedBbox, regPredictorCfg, clsPredictorCfg, lossCls,
        lossBbox, initCfg);

/// <summary>
/// MMDetection's plain <c>BBoxHead</c>: no hidden layers, <c>fc_cls</c> and <c>fc_reg</c> straight on the RoI features —
/// average-pooled first with <c>with_avg_pool</c> (the C4 models, after the res5 shared head), else flattened.
/// </summary>
[Register(Registries.ModelsName, "BBoxHead")]
public sealed class BBoxHead(
    bool withAvgPool = false, bool withCls = true, bool withReg = true, int roiFeatSize = 7, int inChannels = 256, int numClasses = 80,
    ConfigDict? bboxCoder = null, bool regClassAgnostic = false, bool regDecodedBbox = false, ConfigDict? regPredictorCfg = null,
    ConfigDict? clsPredictorCfg = null, ConfigDict? lossCls = null, ConfigDict? lossBbox = null, object? initCfg = null)
    : ConvFCBBoxHead(nameof(BBoxHead), 0, 0, 0, 0, 0, 0, 256, 1024, null, null, withAvgPool, withCls, withReg, roiFeatSize, inChannels,
        numClasses, bboxCoder, regClassAgnostic, regDecodedBbox, regPredictorCfg, clsPredictorCfg, lossCls, lossBbox, initCfg);
