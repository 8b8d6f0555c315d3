using DetSharp.Config;
using DetSharp.Models.Common;
using DetSharp.Models.Losses;
using DetSharp.Models.Onnx;
using DetSharp.Models.TaskModules;
using DetSharp.Ops;
using DetSharp.Registry;
using TorchSharp;
using static DetSharp.Models.Onnx.OnnxGraphBuilder;
using static TorchSharp.torch;

namespace DetSharp.Models.DenseHeads;

/// <summary>
/// MMDetection's <c>RPNHead</c>: an <see cref="AnchorHead"/> with one class-agnostic objectness score, <c>rpn_conv</c>
/// 3×3 + ReLU (or <c>num_convs</c> ConvModules), then 1×1 <c>rpn_cls</c> and <c>rpn_reg</c>. Its losses are logged as
/// <c>loss_rpn_cls</c>/<c>loss_rpn_bbox</c>. Proposals (its own <c>_get_bboxes_single</c>): per level the top
/// <c>nms_pre</c> scores, decoding clipped to the image, boxes of width or height ≤ <c>min_bbox_size</c> dropped, NMS
/// per level (batched over level ids), the first <c>max_per_img</c> kept.
/// </summary>
[Register(Registries.ModelsName, "RPNHead")]
public sealed class RPNHead : AnchorHead
{
    private readonly nn.Module<Tensor, Tensor> _rpnConv;
    private readonly TorchSharp.Modules.Conv2d _rpnCls, _rpnReg;

    public RPNHead([InheritedArguments] AnchorHeadArguments args, int numConvs = 1)
        : base(nameof(RPNHead), args, args.NumClasses is null or 1 ? 1 : throw new DetSharpException("RPNHead: num_classes must be 1."), null)
    {
        if (LossCls is not CrossEntropyLoss { UseSigmoid: true } && LossCls is not FocalLoss)
            throw new DetSharpException("RPNHead: loss_cls must use sigmoid (CrossEntropyLoss with use_sigmoid=True).");
        if (numConvs > 1)
        {
            var convs = new List<(string, nn.Module<Tensor, Tensor>)>();
            for (int i = 0; i < numConvs; i++)
                convs.Add((i.ToString(System.Globalization.CultureInfo.InvariantCulture), new ConvModule(i == 0 ? InChannels : FeatChannels, FeatChannels, 3, padding: 1, withRelu: true)));
            _rpnConv = nn.Sequential(convs.ToArray());
        }
        else
        {
            _rpnConv = nn.Conv2d(InChannels, FeatChannels, 3, padding: 1);
        }
        NumConvs = Math.Max(numConvs, 1);
        _rpnCls = nn.Conv2d(FeatChannels, NumBaseAnchors * ClsOutChannels, 1);
        _rpnReg = nn.Conv2d(FeatChannels, NumBaseAnchors * 4, 1);
        register_module("rpn_conv", _rpnConv);
        register_module("rpn_cls", _rpnCls);
        register_module("rpn_reg", _rpnReg);
        foreach (var (_, m) in named_modules())
            if (m is TorchSharp.Modules.Conv2d) ModuleTools.NormalInit(m, 0, 0.01);
    }

    public override bool IsClassAgnostic => true;

    public int NumConvs { get; }

    protected override (string Cls, string Bbox) LossNames => ("loss_rpn_cls", "loss_rpn_bbox");

    protected override (Tensor ClsScore, Tensor BboxPred) ForwardSingle(Tensor x)
    {
        x = _rpnConv.forward(x);
        // A single conv has no activation of its own; the ConvModules of num_convs > 1 end with theirs.
        if (NumConvs == 1) x = nn.functional.relu(x);
        return (_rpnCls.forward(x), _rpnReg.forward(x));
    }

    /// <summary>
    /// Refused: proposals are merged over augmentations by the two-stage detector (<c>merge_aug_proposals</c>);
    /// MMDetection's <c>aug_test_bboxes</c> is not for RPN heads.
    /// </summary>
    public override DenseDetections AugTest(IReadOnlyList<Tensor[]> feats, IReadOnlyList<ImgMeta> augMetas, bool rescale) =>
        throw new DetSharpException("RPNHead has no aug_test_bboxes (as in MMDetection): a two-stage detector merges its proposals over the augmentations.");

    // Proposals always go through NMS, as in MMDetection's RPNHead (its with_nms is not used).
    protected override DenseDetections GetBboxesSingle(DenseHeadOutputs outs, int img, Tensor[] priors, ImgMeta imgMeta, ConfigDict cfg, bool rescale,
        bool withNms)
    {
        int nmsPre = cfg.Get("nms_pre", -1);
        int maxPerImg = cfg.Has("max_per_img") ? cfg.Get<int>("max_per_img") : cfg.Get("max_num", 1000);
        double minBboxSize = cfg.Get("min_bbox_size", 0.0);
        var nms = cfg.Has("nms") ? Builders.Nms(cfg.Get<ConfigDict>("nms")) : new NmsConfig(cfg.Get("nms_thr", 0.7));
        var device = outs.ClsScores[0].device;
        var scoresL = new List<Tensor>();
        var predsL = new List<Tensor>();
        var anchorsL = new List<Tensor>();
        var ids = new List<Tensor>();
        for (int l = 0; l < outs.ClsScores.Length; l++)
        {
            var scores = outs.ClsScores[l][img].permute(1, 2, 0).reshape(-1).sigmoid();
            var pred = outs.BboxPreds[l][img].permute(1, 2, 0).reshape(-1, 4);
            var anc = priors[l];
            if (nmsPre > 0 && nmsPre < scores.shape[0])
            {
                var (ranked, rankInds) = scores.sort(0, descending: true, stable: true);
                var topk = rankInds[..nmsPre];
                scores = ranked[..nmsPre];
                pred = pred[topk];
                anc = anc[topk];
            }
            scoresL.Add(scores);
            predsL.Add(pred);
            anchorsL.Add(anc);
            ids.Add(full(scores.shape[0], (long)l, ScalarType.Int64, device));
        }
        var s = cat(scoresL);
        var proposals = BboxCoder.Decode(cat(anchorsL), cat(predsL), imgMeta.ImgShape);
        var idsT = cat(ids);
        if (minBboxSize >= 0)
        {
            var w = proposals[.., 2] - proposals[.., 0];
            var h = proposals[.., 3] - proposals[.., 1];
            var validMask = (w > minBboxSize) & (h > minBboxSize);
            if (!validMask.all().item<bool>())
            {
                proposals = proposals[validMask];
                s = s[validMask];
                idsT = idsT[validMask];
            }
        }
        Tensor dets;
        if (proposals.numel() > 0)
        {
            dets = Nms.BatchedNms(proposals, s, idsT, nms).Dets;
            if (dets.shape[0] > maxPerImg) dets = dets[..maxPerImg];
        }
        else
        {
            dets = zeros(0, 5, ScalarType.Float32, device);
        }
        if (rescale && dets.shape[0] > 0)
            dets = cat([dets[.., 0..4] / tensor(imgMeta.ScaleFactor, device: device), dets[.., 4..5]], 1);
        return new DenseDetections(dets, zeros(dets.shape[0], ScalarType.Int64, device));
    }

    protected override (string ClsScore, string BboxPred) ExportForwardSingle(OnnxExportContext ctx, string x)
    {
        ctx.RequireExportOf(this, nameof(ForwardSingle), nameof(ExportForwardSingle));
        x = ctx.Forward(_rpnConv, x);
        if (NumConvs == 1) x = ctx.Relu(x, ctx.ValueName(this, "rpn_relu"));
        return (ctx.Forward(_rpnCls, x), ctx.Forward(_rpnReg, x));
    }

    /// <summary>
    /// <see cref="BaseDenseHead.SimpleTest"/>'s proposals for one image as ONNX nodes, as <see cref="GetBboxesSingle"/>
    /// computes them: per level the sigmoid objectness and its best nms_pre (TopK), the anchors (constants for
    /// <see cref="OnnxImageInputs.FeatmapSizes"/>, generated in the graph for a dynamic export); then the deltas decoded
    /// and clipped to <c>img_shape</c>, boxes of width or height ≤ min_bbox_size dropped (Compress), NMS per level (the level as the NMS category) and the first
    /// max_per_img. Returns proposals [N, 5] (x1, y1, x2, y2, score). <paramref name="cfg"/> defaults to the test_cfg.
    /// </summary>
    public string ExportProposals(OnnxExportContext ctx, IReadOnlyList<string> feats, OnnxImageInputs inputs, ConfigDict? cfg = null)
    {
        ctx.RequireExportOf(this, nameof(GetBboxesSingle), nameof(ExportProposals));
        if (BboxCoder is not IOnnxBBoxCoder coder) throw ctx.Unsupported(this, $"its bbox_coder {BboxCoder.GetType().Name} has no ONNX export");
        cfg ??= TestCfg ?? throw new DetSharpException($"ONNX export: RPNHead at '{ctx.PathOf(this)}' needs a test_cfg.");
        int nmsPre = cfg.Get("nms_pre", -1);
        int maxPerImg = cfg.Has("max_per_img") ? cfg.Get<int>("max_per_img") : cfg.Get("max_num", 1000);
        double minBboxSize = cfg.Get("min_bbox_size", 0.0);
        var nms = cfg.Has("nms") ? Builders.Nms(cfg.Get<ConfigDict>("nms")) : new NmsConfig(cfg.Get("nms_thr", 0.7));
        var (clsScores, bboxPreds, _) = ExportForward(ctx, feats);
        string name = ctx.ValueName(this, "proposals");
        var priors = ExportPriors(ctx, inputs, clsScores, l => $"{name}.level{l}.anchors");
        var scoresL = new List<string>();
        var predsL = new List<string>();
        var anchorsL = new List<string>();
        var idsL = new List<string>();
        for (int l = 0; l < clsScores.Count; l++)
        {
            string lv = $"{name}.level{l}";
            var (anchors, count) = priors[l];
            string scores = ctx.Sigmoid(ctx.Reshape(ctx.Transpose(clsScores[l], $"{lv}.cls_hwa", 0, 2, 3, 1), $"{lv}.logits", -1), $"{lv}.scores");
            string pred = ctx.Reshape(ctx.Transpose(bboxPreds[l], $"{lv}.reg_hwa", 0, 2, 3, 1), $"{lv}.deltas", -1, 4);
            // The best nms_pre, score-sorted, when there are more; else all in their order.
            if (nmsPre > 0 && (count is null || nmsPre < count))
            {
                string k = ctx.TopKCount(scores, nmsPre, count, $"{lv}.nms_pre");
                string order = ctx.Graph.Node("TopK", [scores, k], $"{lv}.topk", 2, Attr("axis", 0L), Attr("largest", 1L), Attr("sorted", 1L))[1];
                if (count is null)
                {
                    // At a dynamic size the graph cannot skip the TopK: where there are no more than nms_pre it keeps the
                    // positions' own order (0..k-1, k = count), so that NMS sees the candidates as libtorch does.
                    string more = ctx.Graph.Node("Greater", [ctx.Dim(scores, 0, $"{lv}.count"), ctx.Int64s($"{lv}.nms_pre_limit", [nmsPre])], $"{lv}.more");
                    order = ctx.Graph.Node("Where", [more, order, ctx.Range(ctx.Squeeze(k, $"{lv}.k_scalar", 0), $"{lv}.positions")], $"{lv}.order");
                }
                scores = ctx.Gather(scores, order, 0, $"{lv}.topk_scores");
                pred = ctx.Gather(pred, order, 0, $"{lv}.topk_deltas");
                anchors = ctx.Gather(anchors, order, 0, $"{lv}.topk_anchors");
                if (count is not null) count = nmsPre;
            }
            scoresL.Add(scores);
            predsL.Add(pred);
            anchorsL.Add(anchors);
            idsL.Add(count is { } c ? ctx.Int64s($"{lv}.ids", [.. Enumerable.Repeat((long)l, (int)c)])
                : ctx.Graph.Node("Expand", [ctx.ScalarInt($"{lv}.id", l), ctx.Shape(scores, $"{lv}.count")], $"{lv}.ids"));
        }
        string s = ctx.Concat(scoresL, $"{name}.scores", 0);
        string ids = ctx.Concat(idsL, $"{name}.ids", 0);
        string proposals = coder.ExportDecode(ctx, ctx.Concat(anchorsL, $"{name}.anchors", 0), ctx.Concat(predsL, $"{name}.deltas", 0), inputs.BoxMax,
            $"{name}.decoded");
        if (minBboxSize >= 0)
        {
            string min = ctx.Scalar($"{name}.min_bbox_size", (float)minBboxSize);
            string w = ctx.Sub(ctx.Column(proposals, 2, $"{name}.x2"), ctx.Column(proposals, 0, $"{name}.x1"), $"{name}.w");
            string h = ctx.Sub(ctx.Column(proposals, 3, $"{name}.y2"), ctx.Column(proposals, 1, $"{name}.y1"), $"{name}.h");
            string valid = ctx.Graph.Node("And", [ctx.Graph.Node("Greater", [w, min], $"{name}.w_valid"), ctx.Graph.Node("Greater", [h, min], $"{name}.h_valid")],
                $"{name}.valid");
            proposals = ctx.Compress(proposals, valid, $"{name}.valid_boxes");
            s = ctx.Compress(s, valid, $"{name}.valid_scores");
            ids = ctx.Compress(ids, valid, $"{name}.valid_ids");
        }
        string keep = ctx.BatchedNms(proposals, s, ids, nms, maxPerImg, $"{name}.nms");
        return ctx.Concat([ctx.Gather(proposals, keep, 0, $"{name}.boxes"), ctx.Unsqueeze(ctx.Gather(s, keep, 0, $"{name}.kept_scores"), $"{name}.scores2d", 1)],
            name, 1);
    }
}
