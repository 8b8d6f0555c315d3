using DetSharp.Config;
using DetSharp.Engine;
using DetSharp.Models.Common;
using DetSharp.Models.Onnx;
using DetSharp.Models.TaskModules;
using DetSharp.Models.Weights;
using DetSharp.Ops;
using DetSharp.Utils;
using static TorchSharp.torch;

namespace DetSharp.Models.DenseHeads;

/// <summary>
/// What a dense head's forward produces, per level: classification logits [B, A·C, H, W], box regressions
/// [B, A·4, H, W] and, for heads that have them (FCOS centerness), score factors [B, A, H, W].
/// </summary>
public record DenseHeadOutputs(Tensor[] ClsScores, Tensor[] BboxPreds, Tensor[]? ScoreFactors = null);

/// <summary>One image's detections from a dense head: <c>det_bboxes</c> [N, 5] (x1, y1, x2, y2, score) and <c>det_labels</c> [N].</summary>
public readonly record struct DenseDetections(Tensor Dets, Tensor Labels);

/// <summary>
/// MMDetection's <c>BaseDenseHead</c>: a head that predicts on every position of every feature level (RPN, RetinaNet,
/// FCOS, ...). Subclasses give <see cref="Forward"/>, <see cref="Loss"/> and <see cref="GetBboxes"/>; this class gives
/// <c>forward_train</c> (losses, and proposals when a proposal config is given, as a two-stage detector's RPN needs),
/// <c>simple_test</c>, and the shared test-time steps <c>filter_scores_and_topk</c> and <c>_bbox_post_process</c>.
/// </summary>
public abstract class BaseDenseHead(string name) : nn.Module(name), IHasNumClasses, IHasInitCfg
{
    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    public abstract int NumClasses { get; }

    public virtual bool IsClassAgnostic => false;

    /// <summary>The <c>init_cfg</c> as given (applied by <see cref="PretrainedInit.InitWeights"/>).</summary>
    public object? InitCfg { get; protected init; }

    /// <summary>The head's outputs for the feature maps of every level.</summary>
    public abstract DenseHeadOutputs Forward(IReadOnlyList<Tensor> feats);

    /// <summary>
    /// <c>loss</c>: the losses under MMDetection's names (per-level lists where MMDetection returns them).
    /// <paramref name="gtLabels"/> is null for class-agnostic heads (RPN).
    /// </summary>
    public abstract LossDict Loss(DenseHeadOutputs outs, IReadOnlyList<Tensor> gtBboxes, IReadOnlyList<Tensor>? gtLabels,
        IReadOnlyList<ImgMeta> imgMetas, IReadOnlyList<Tensor?>? gtBboxesIgnore = null);

    /// <summary>
    /// <c>get_bboxes</c>: per image the detections in input-image coordinates (divided by the scale factor when
    /// <paramref name="rescale"/>), score-descending after NMS. <paramref name="cfg"/> defaults to the head's test_cfg.
    /// With <paramref name="withNms"/> false (MMDetection's <c>with_nms=False</c>, what test-time augmentation merges)
    /// the candidates before NMS instead: every level's kept (box, score) rows, score factors applied, level by level.
    /// Gradients are not tracked.
    /// </summary>
    public List<DenseDetections> GetBboxes(DenseHeadOutputs outs, IReadOnlyList<ImgMeta> imgMetas, ConfigDict? cfg = null, bool rescale = false,
        bool withNms = true)
    {
        cfg ??= TestCfg ?? throw new InvalidOperationException($"{GetType().Name}.GetBboxes needs a test_cfg.");
        using var noGrad = no_grad();
        using var timed = Profiler.Scope(ProfilerSections.DenseHeadBoxes);
        var priors = GridPriors(FeatmapSizes(outs.ClsScores), outs.ClsScores[0].device);
        try
        {
            var result = new List<DenseDetections>(imgMetas.Count);
            for (int img = 0; img < imgMetas.Count; img++)
            {
                using var scope = NewDisposeScope();
                var dets = GetBboxesSingle(outs, img, priors, imgMetas[img], cfg, rescale, withNms);
                result.Add(new DenseDetections(dets.Dets.MoveToOuterDisposeScope(), dets.Labels.MoveToOuterDisposeScope()));
            }
            return result;
        }
        finally
        {
            foreach (var p in priors) p.Dispose();
        }
    }

    /// <summary>The head's <c>test_cfg</c>, the default of <see cref="GetBboxes"/>.</summary>
    protected abstract ConfigDict? TestCfg { get; }

    /// <summary>Channels of one prior's classification output (num_classes, plus background for softmax).</summary>
    public abstract int ClsOutChannels { get; }

    /// <summary>Sigmoid scores (else softmax without the background column).</summary>
    public abstract bool UseSigmoidCls { get; }

    /// <summary>How the regression outputs become boxes around the priors.</summary>
    public abstract IBBoxCoder BboxCoder { get; }

    /// <summary>The priors (anchors or points) of every level, in the order the outputs are flattened.</summary>
    protected abstract Tensor[] GridPriors(IReadOnlyList<(long H, long W)> featmapSizes, Device device);

    /// <summary>
    /// <see cref="GridPriors"/> of one level as ONNX nodes, from the level's map [1, C, H, W] in the graph (a dynamic
    /// export); a head whose prior generator can write its grid overrides it.
    /// </summary>
    protected virtual string ExportGridPriors(OnnxExportContext ctx, string featmap, int level, string name) =>
        throw ctx.Unsupported(this, "its priors cannot be generated in the graph from the feature maps' sizes", OnnxExportContext.DynamicRemedy);

    /// <summary>
    /// Per level the priors of an export and, for a fixed input size, their count: constants computed by
    /// <see cref="GridPriors"/> at <see cref="OnnxImageInputs.FeatmapSizes"/>, or for a dynamic export generated in the
    /// graph from the shapes of <paramref name="maps"/> (the level's outputs) by <see cref="ExportGridPriors"/>.
    /// </summary>
    protected IReadOnlyList<(string Priors, long? Count)> ExportPriors(OnnxExportContext ctx, OnnxImageInputs inputs, IReadOnlyList<string> maps,
        Func<int, string> name)
    {
        if (inputs.FeatmapSizes is { } sizes)
        {
            using var scope = NewDisposeScope();
            return GridPriors(sizes, CPU).Select((p, l) => (ctx.Constant(name(l), p), (long?)p.shape[0])).ToList();
        }
        ctx.RequireExportOf(this, nameof(GridPriors), nameof(ExportGridPriors), OnnxExportContext.DynamicRemedy);
        return maps.Select((m, l) => (ExportGridPriors(ctx, m, l, name(l)), (long?)null)).ToList();
    }

    /// <summary>
    /// <c>_get_bboxes_single</c>: per level the best <c>nms_pre</c> (position, class) scores above <c>score_thr</c>,
    /// decoded from their priors and clipped to the image, with the score factors (e.g. FCOS's centerness) where the
    /// head has them; then <see cref="BboxPostProcess"/>.
    /// </summary>
    protected virtual DenseDetections GetBboxesSingle(DenseHeadOutputs outs, int img, Tensor[] priors, ImgMeta imgMeta, ConfigDict cfg, bool rescale,
        bool withNms)
    {
        int nmsPre = cfg.Get("nms_pre", -1);
        double scoreThr = cfg.Get<double>("score_thr");
        var mlvlBboxes = new List<Tensor>();
        var mlvlScores = new List<Tensor>();
        var mlvlLabels = new List<Tensor>();
        var mlvlFactors = outs.ScoreFactors is null ? null : new List<Tensor>();
        for (int l = 0; l < outs.ClsScores.Length; l++)
        {
            var cls = outs.ClsScores[l][img].permute(1, 2, 0).reshape(-1, ClsOutChannels);
            var scores = UseSigmoidCls ? cls.sigmoid() : cls.softmax(-1)[.., ..^1];
            var (kept, labels, keep) = FilterScoresAndTopk(scores, scoreThr, nmsPre);
            mlvlBboxes.Add(DecodeKept(l, priors[l], outs.BboxPreds[l][img], keep, imgMeta));
            mlvlScores.Add(kept);
            mlvlLabels.Add(labels);
            mlvlFactors?.Add(outs.ScoreFactors![l][img].permute(1, 2, 0).reshape(-1).sigmoid()[keep]);
        }
        return BboxPostProcess(mlvlScores, mlvlLabels, mlvlBboxes, imgMeta, cfg, rescale, withNms, mlvlFactors);
    }

    /// <summary>
    /// The head's forward as ONNX nodes: per level the classification, regression and (for heads that have them) score
    /// factor values, shaped as <see cref="Forward"/>'s outputs for one image. A head with an export overrides it.
    /// </summary>
    protected virtual (IReadOnlyList<string> ClsScores, IReadOnlyList<string> BboxPreds, IReadOnlyList<string>? ScoreFactors) ExportForward(
        OnnxExportContext ctx, IReadOnlyList<string> feats) =>
        throw ctx.Unsupported(this, "the head has no ONNX export of its forward");

    /// <summary>
    /// The head's raw outputs as ONNX nodes, for an export without post-processing (MMDetection's <c>pytorch2onnx.py
    /// --skip-postprocess</c>, its <c>forward_dummy</c>): per level the maps <see cref="Forward"/> gives for one image —
    /// classification [1, A·C, H, W], regression [1, A·4, H, W], score factors where the head has them — which
    /// <see cref="GetBboxes"/> turns into detections outside the graph.
    /// </summary>
    public (IReadOnlyList<string> ClsScores, IReadOnlyList<string> BboxPreds, IReadOnlyList<string>? ScoreFactors) ExportRawOutputs(
        OnnxExportContext ctx, IReadOnlyList<string> feats) => ExportForward(ctx, feats);

    /// <summary>
    /// <see cref="SimpleTest"/> of one image as ONNX nodes, as <see cref="GetBboxesSingle"/> and
    /// <see cref="BboxPostProcess"/> compute it: per level the best <c>nms_pre</c> (position, class) scores (TopK),
    /// those above <c>score_thr</c> (Compress), their priors (<see cref="ExportPriors"/>: constants, or in-graph when dynamic)
    /// decoded and clipped to <c>img_shape</c>, score factors applied, then batched NMS and <c>max_per_img</c>. Returns
    /// <c>dets</c> [N, 5] and <c>labels</c> [N] in the resized image's coordinates (rescaling is the runtime's).
    /// </summary>
    public virtual (string Dets, string Labels) ExportSimpleTest(OnnxExportContext ctx, IReadOnlyList<string> feats, OnnxImageInputs inputs)
    {
        ctx.RequireExportOf(this, nameof(GetBboxesSingle), nameof(ExportSimpleTest));
        ctx.RequireExportOf(this, nameof(DecodeKept), nameof(ExportSimpleTest));
        if (BboxCoder is not IOnnxBBoxCoder coder) throw ctx.Unsupported(this, $"its bbox_coder {BboxCoder.GetType().Name} has no ONNX export");
        var cfg = TestCfg ?? throw new DetSharpException($"ONNX export: {GetType().Name} at '{ctx.PathOf(this)}' needs a test_cfg.");
        int nmsPre = cfg.Get("nms_pre", -1);
        if (nmsPre <= 0) throw ctx.Unsupported(this, $"test_cfg.nms_pre={nmsPre}; set a positive nms_pre (e.g. 1000) to export");
        float scoreThr = (float)cfg.Get<double>("score_thr");
        var (clsScores, bboxPreds, scoreFactors) = ExportForward(ctx, feats);
        string head = ctx.ValueName(this);
        var priors = ExportPriors(ctx, inputs, clsScores, l => $"{head}.level{l}.priors");
        var mlvlBoxes = new List<string>();
        var mlvlScores = new List<string>();
        var mlvlLabels = new List<string>();
        var mlvlFactors = new List<string>();
        for (int l = 0; l < clsScores.Count; l++)
        {
            string lv = $"{head}.level{l}";
            // [1, A·C, H, W] -> [H·W·A, C] as cls.permute(1, 2, 0).reshape(-1, C): rows in the priors' order.
            string cls = ctx.Reshape(ctx.Transpose(clsScores[l], lv + ".cls_hwc", 0, 2, 3, 1), lv + ".cls_rows", -1, ClsOutChannels);
            string scores = UseSigmoidCls ? ctx.Sigmoid(cls, lv + ".sigmoid")
                : ctx.Graph.Node("Slice", [ctx.Softmax(cls, lv + ".softmax", -1), ctx.Int64s(lv + ".fg_start", [0]), ctx.Int64s(lv + ".fg_end", [-1]),
                    ctx.Int64s(lv + ".fg_axis", [1])], lv + ".fg_scores");
            int numClasses = UseSigmoidCls ? ClsOutChannels : ClsOutChannels - 1;
            string flat = ctx.Reshape(scores, lv + ".flat_scores", -1);
            // filter_scores_and_topk: the best nms_pre of the pairs above score_thr are the pairs above score_thr among the
            // best nms_pre.
            string k = ctx.TopKCount(flat, nmsPre, priors[l].Count * numClasses, lv + ".k");
            var topk = ctx.Graph.Node("TopK", [flat, k], lv + ".topk", 2, OnnxGraphBuilder.Attr("axis", 0L),
                OnnxGraphBuilder.Attr("largest", 1L), OnnxGraphBuilder.Attr("sorted", 1L));
            string valid = ctx.Graph.Node("Greater", [topk[0], ctx.Scalar(lv + ".score_thr", scoreThr)], lv + ".valid");
            string kept = ctx.Graph.Node("Compress", [topk[0], valid], lv + ".scores", OnnxGraphBuilder.Attr("axis", 0L));
            string pairs = ctx.Graph.Node("Compress", [topk[1], valid], lv + ".pairs", OnnxGraphBuilder.Attr("axis", 0L));
            string classes = ctx.Int64s(lv + ".num_classes", [numClasses], scalar: true);
            string keep = ctx.Div(pairs, classes, lv + ".keep");
            mlvlLabels.Add(ctx.Graph.Node("Mod", [pairs, classes], lv + ".labels"));
            mlvlScores.Add(kept);
            string levelPriors = priors[l].Priors;
            string reg = ctx.Reshape(ctx.Transpose(bboxPreds[l], lv + ".reg_hwc", 0, 2, 3, 1), lv + ".reg_rows", -1, 4);
            mlvlBoxes.Add(coder.ExportDecode(ctx, ctx.Graph.Node("Gather", [levelPriors, keep], lv + ".kept_priors", OnnxGraphBuilder.Attr("axis", 0L)),
                ctx.Graph.Node("Gather", [reg, keep], lv + ".kept_deltas", OnnxGraphBuilder.Attr("axis", 0L)), inputs.BoxMax, lv + ".bboxes"));
            if (scoreFactors is not null)
            {
                string factor = ctx.Sigmoid(ctx.Reshape(ctx.Transpose(scoreFactors[l], lv + ".factor_hwc", 0, 2, 3, 1), lv + ".factor_rows", -1),
                    lv + ".factor_sigmoid");
                mlvlFactors.Add(ctx.Graph.Node("Gather", [factor, keep], lv + ".factors", OnnxGraphBuilder.Attr("axis", 0L)));
            }
        }
        string boxes = ctx.Concat(mlvlBoxes, head + ".bboxes", 0);
        string allScores = ctx.Concat(mlvlScores, head + ".scores", 0);
        if (scoreFactors is not null) allScores = ctx.Mul(allScores, ctx.Concat(mlvlFactors, head + ".factors", 0), head + ".factored_scores");
        string labels = ctx.Concat(mlvlLabels, head + ".labels", 0);
        string nmsKeep = ctx.BatchedNms(boxes, allScores, labels, Builders.Nms(cfg.Get<ConfigDict>("nms")), cfg.Get<int>("max_per_img"), head + ".nms");
        string Take(string x, string what) => ctx.Graph.Node("Gather", [x, nmsKeep], $"{head}.{what}", OnnxGraphBuilder.Attr("axis", 0L));
        string dets = ctx.Concat([Take(boxes, "det_boxes"), ctx.Graph.Node("Unsqueeze", [Take(allScores, "det_scores"), ctx.Int64s(head + ".axis1", [1])],
            head + ".det_scores_col")], head + ".dets", 1);
        return (dets, Take(labels, "det_labels"));
    }

    /// <summary>
    /// The boxes of the kept positions of one level: <paramref name="bboxPred"/> is that level's regression output of
    /// one image [C, H, W], 4 values per prior by default; a head whose output is not one box per 4 channels (GFL's
    /// distributions) overrides this.
    /// </summary>
    protected virtual Tensor DecodeKept(int level, Tensor priors, Tensor bboxPred, Tensor keep, ImgMeta imgMeta) =>
        BboxCoder.Decode(priors[keep], bboxPred.permute(1, 2, 0).reshape(-1, 4)[keep], imgMeta.ImgShape);

    /// <summary><c>forward_train</c> without proposals (a one-stage detector's head).</summary>
    public LossDict ForwardTrain(IReadOnlyList<Tensor> feats, IReadOnlyList<ImgMeta> imgMetas, IReadOnlyList<Tensor> gtBboxes,
        IReadOnlyList<Tensor>? gtLabels, IReadOnlyList<Tensor?>? gtBboxesIgnore = null) =>
        TimedLoss(TimedForward(feats), gtBboxes, gtLabels, imgMetas, gtBboxesIgnore);

    /// <summary><c>forward_train</c> with <c>proposal_cfg</c>: the losses and the proposals of every image (a two-stage detector's RPN).</summary>
    public (LossDict Losses, List<Tensor> Proposals) ForwardTrain(IReadOnlyList<Tensor> feats, IReadOnlyList<ImgMeta> imgMetas,
        IReadOnlyList<Tensor> gtBboxes, IReadOnlyList<Tensor>? gtLabels, IReadOnlyList<Tensor?>? gtBboxesIgnore, ConfigDict proposalCfg)
    {
        var outs = TimedForward(feats);
        var losses = TimedLoss(outs, gtBboxes, gtLabels, imgMetas, gtBboxesIgnore);
        var proposals = GetBboxes(outs, imgMetas, proposalCfg).Select(d => d.Dets).ToList();
        return (losses, proposals);
    }

    /// <summary><c>simple_test</c>: forward and <see cref="GetBboxes"/> with the test_cfg.</summary>
    public List<DenseDetections> SimpleTest(IReadOnlyList<Tensor> feats, IReadOnlyList<ImgMeta> imgMetas, bool rescale = false)
    {
        using var noGrad = no_grad();
        return GetBboxes(TimedForward(feats), imgMetas, rescale: rescale);
    }

    /// <summary><see cref="Forward"/> in the profiler's dense-head section.</summary>
    private DenseHeadOutputs TimedForward(IReadOnlyList<Tensor> feats)
    {
        using var timed = Profiler.Scope(ProfilerSections.DenseHeadForward);
        return Forward(feats);
    }

    /// <summary><see cref="Loss"/> in the profiler's dense-head section (its targets, where the head times them, in theirs).</summary>
    private LossDict TimedLoss(DenseHeadOutputs outs, IReadOnlyList<Tensor> gtBboxes, IReadOnlyList<Tensor>? gtLabels, IReadOnlyList<ImgMeta> imgMetas,
        IReadOnlyList<Tensor?>? gtBboxesIgnore)
    {
        using var timed = Profiler.Scope(ProfilerSections.DenseHeadLoss);
        return Loss(outs, gtBboxes, gtLabels, imgMetas, gtBboxesIgnore);
    }

    /// <summary>
    /// <c>aug_test</c> for one image: <paramref name="feats"/> and <paramref name="augMetas"/> per augmentation; the
    /// detections in original-image coordinates when <paramref name="rescale"/>. The heads MMDetection gives it (its
    /// AnchorHead and AnchorFreeHead families) override this with <see cref="AugTestBboxes"/>; the others refuse.
    /// </summary>
    public virtual DenseDetections AugTest(IReadOnlyList<Tensor[]> feats, IReadOnlyList<ImgMeta> augMetas, bool rescale) =>
        throw new DetSharpException($"{GetType().Name} has no test-time augmentation (as in MMDetection); use one img_scale and flip=False in the "
                                    + "test pipeline's MultiScaleFlipAug.");

    /// <summary>
    /// <c>aug_test_bboxes</c>: every augmentation's candidates before NMS (<see cref="GetBboxes"/> with withNms false:
    /// score_thr and nms_pre per level, score factors applied) mapped back to the original image and concatenated (not
    /// averaged: each augmentation has its own priors), then one class-aware NMS with test_cfg's nms and the best
    /// max_per_img. Without <paramref name="rescale"/> the boxes are given at the first augmentation's scale.
    /// </summary>
    protected DenseDetections AugTestBboxes(IReadOnlyList<Tensor[]> feats, IReadOnlyList<ImgMeta> augMetas, bool rescale)
    {
        var cfg = TestCfg ?? throw new InvalidOperationException($"{GetType().Name}.AugTest needs a test_cfg.");
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var bboxes = new List<Tensor>(augMetas.Count);
        var scores = new List<Tensor>(augMetas.Count);
        var labels = new List<Tensor>(augMetas.Count);
        for (int a = 0; a < augMetas.Count; a++)
        {
            var d = GetBboxes(Forward(feats[a]), [augMetas[a]], cfg, rescale: false, withNms: false)[0];
            bboxes.Add(MergeAugs.BboxMappingBack(d.Dets[.., 0..4], augMetas[a]));
            scores.Add(d.Dets[.., 4]);
            labels.Add(d.Labels);
        }
        // The merged candidates are in the original image already: NMS as a single view at scale 1.
        var merged = BboxPostProcess([cat(scores)], [cat(labels)], [cat(bboxes)], augMetas[0], cfg, rescale: false);
        var dets = rescale || merged.Dets.shape[0] == 0
            ? merged.Dets
            : cat([merged.Dets[.., 0..4] * tensor(augMetas[0].ScaleFactor, device: merged.Dets.device), merged.Dets[.., 4..5]], 1);
        return new DenseDetections(dets.MoveToOuterDisposeScope(), merged.Labels.MoveToOuterDisposeScope());
    }

    /// <summary>(H, W) of every level's map.</summary>
    protected static List<(long H, long W)> FeatmapSizes(IReadOnlyList<Tensor> maps)
    {
        var sizes = new List<(long H, long W)>(maps.Count);
        foreach (var m in maps) sizes.Add((m.shape[2], m.shape[3]));
        return sizes;
    }

    /// <summary>
    /// mmdet's <c>filter_scores_and_topk</c>: the (position, class) pairs whose score exceeds <paramref name="scoreThr"/>,
    /// the best <paramref name="topk"/> of them by score. As in MMDetection, <c>topk</c> is used as a Python slice end,
    /// so <c>nms_pre=-1</c> drops the last candidate.
    /// </summary>
    public static (Tensor Scores, Tensor Labels, Tensor KeepIdxs) FilterScoresAndTopk(Tensor scores, double scoreThr, int topk)
    {
        var valid = scores > scoreThr;
        var kept = scores[valid];
        var validIdxs = nonzero(valid);
        long n = validIdxs.shape[0];
        long numTopk = Math.Min(topk, n);
        int end = (int)(numTopk < 0 ? Math.Max(0, n + numTopk) : numTopk);
        var (sorted, idxs) = kept.sort(descending: true);
        var topkIdxs = validIdxs[idxs[..end]];
        return (sorted[..end], topkIdxs[.., 1], topkIdxs[.., 0]);
    }

    /// <summary>
    /// mmdet's <c>_bbox_post_process</c>: the levels' candidates together, divided by the scale factor when
    /// <paramref name="rescale"/>, multiplied by the score factors when given, then class-aware NMS (<c>cfg.nms</c>) and
    /// the first <c>max_per_img</c>; without NMS the candidates as they are.
    /// </summary>
    protected static DenseDetections BboxPostProcess(List<Tensor> mlvlScores, List<Tensor> mlvlLabels, List<Tensor> mlvlBboxes,
        ImgMeta imgMeta, ConfigDict cfg, bool rescale, bool withNms = true, List<Tensor>? mlvlScoreFactors = null)
    {
        var bboxes = cat(mlvlBboxes);
        if (rescale) bboxes = bboxes / tensor(imgMeta.ScaleFactor, device: bboxes.device);
        var scores = cat(mlvlScores);
        var labels = cat(mlvlLabels);
        if (mlvlScoreFactors is not null) scores = scores * cat(mlvlScoreFactors);
        if (!withNms || bboxes.numel() == 0) return new DenseDetections(cat([bboxes, scores.unsqueeze(1)], -1), labels);
        var nms = Common.Builders.Nms(cfg.Get<ConfigDict>("nms"));
        var (dets, keep) = Nms.BatchedNms(bboxes, scores, labels, nms);
        int maxPerImg = cfg.Get<int>("max_per_img");
        if (dets.shape[0] > maxPerImg)
        {
            dets = dets[..maxPerImg];
            keep = keep[..maxPerImg];
        }
        return new DenseDetections(dets, labels[keep]);
    }
}
