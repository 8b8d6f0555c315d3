using DetSharp.Engine;
using DetSharp.Config;
using DetSharp.Models.Common;
using DetSharp.Models.Losses;
using DetSharp.Models.TaskModules;
using DetSharp.Ops;
using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.DenseHeads;

/// <summary>
/// MMDetection's <c>RPNHead</c> (an <c>AnchorHead</c> with one class): <c>rpn_conv</c> 3×3 + ReLU, then 1×1
/// <c>rpn_cls</c> (A·1 sigmoid logits) and <c>rpn_reg</c> (A·4 deltas) on every level.
/// Training: anchors inside the image (per <c>allowed_border</c>) are assigned and sampled per image; losses
/// <c>loss_rpn_cls</c>/<c>loss_rpn_bbox</c> per level, averaged over the number of sampled anchors.
/// Proposals: per level the top <c>nms_pre</c> scores, decoding clipped to the image, boxes of width or height
/// ≤ <c>min_bbox_size</c> dropped, NMS per level (batched), the first <c>max_per_img</c> kept.
/// </summary>
[Register(Registries.ModelsName, "RPNHead")]
public sealed class RPNHead : nn.Module, IHasNumClasses
{
    /// <summary>RPN heads are class-agnostic (one objectness score); NumClassCheckHook skips them.</summary>
    public int NumClasses => 1;

    public bool IsClassAgnostic => true;

    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private readonly nn.Module<Tensor, Tensor> _rpnConv;
    private readonly TorchSharp.Modules.Conv2d _rpnCls, _rpnReg;
    private readonly ConfigDict? _trainCfg;
    private readonly ConfigDict? _testCfg;
    private readonly IBBoxAssigner? _assigner;
    private readonly IBBoxSampler? _sampler;

    public RPNHead(
        int inChannels,
        int featChannels = 256,
        ConfigDict? anchorGenerator = null,
        ConfigDict? bboxCoder = null,
        ConfigDict? lossCls = null,
        ConfigDict? lossBbox = null,
        ConfigDict? trainCfg = null,
        ConfigDict? testCfg = null,
        int numConvs = 1,
        bool regDecodedBbox = false,
        int numClasses = 1,
        object? initCfg = null)
        : base(nameof(RPNHead))
    {
        if (numClasses != 1) throw new DetSharpException("RPNHead: num_classes must be 1.");
        if (regDecodedBbox) throw new DetSharpException("RPNHead: reg_decoded_bbox=True is not supported.");
        _ = initCfg;
        AnchorGenerator = Builders.TaskModule<AnchorGenerator>(anchorGenerator ?? new ConfigDict
        {
            ["type"] = "AnchorGenerator", ["scales"] = new ConfigList([8L, 16L, 32L]), ["ratios"] = new ConfigList([0.5, 1.0, 2.0]),
            ["strides"] = new ConfigList([4L, 8L, 16L, 32L, 64L]),
        });
        BboxCoder = Builders.TaskModule<IBBoxCoder>(bboxCoder ?? new ConfigDict { ["type"] = "DeltaXYWHBBoxCoder" });
        LossCls = Builders.Loss(lossCls ?? new ConfigDict { ["type"] = "CrossEntropyLoss", ["use_sigmoid"] = true, ["loss_weight"] = 1.0 });
        LossBbox = Builders.Loss(lossBbox ?? new ConfigDict { ["type"] = "SmoothL1Loss", ["beta"] = 1.0 / 9.0, ["loss_weight"] = 1.0 });
        if (LossCls is not CrossEntropyLoss { UseSigmoid: true } && LossCls is not FocalLoss)
            throw new DetSharpException("RPNHead: loss_cls must use sigmoid (CrossEntropyLoss with use_sigmoid=True).");
        _trainCfg = trainCfg;
        _testCfg = testCfg;
        if (trainCfg is not null)
        {
            _assigner = Builders.TaskModule<IBBoxAssigner>(trainCfg.Get<ConfigDict>("assigner"));
            _sampler = trainCfg.Has("sampler")
                ? Builders.TaskModule<IBBoxSampler>(trainCfg.Get<ConfigDict>("sampler"))
                : throw new DetSharpException("RPNHead: train_cfg.sampler is required (the pseudo sampler is not supported).");
        }
        int a = AnchorGenerator.NumBaseAnchors[0];
        if (numConvs > 1)
        {
            var convs = new List<(string, nn.Module<Tensor, Tensor>)>();
            for (int i = 0; i < numConvs; i++)
                convs.Add((i.ToString(System.Globalization.CultureInfo.InvariantCulture), new ConvModule(i == 0 ? inChannels : featChannels, featChannels, 3, padding: 1, withRelu: true)));
            _rpnConv = nn.Sequential(convs.ToArray());
            NumConvs = numConvs;
        }
        else
        {
            _rpnConv = nn.Conv2d(inChannels, featChannels, 3, padding: 1);
            NumConvs = 1;
        }
        _rpnCls = nn.Conv2d(featChannels, a, 1);
        _rpnReg = nn.Conv2d(featChannels, a * 4, 1);
        register_module("rpn_conv", _rpnConv);
        register_module("rpn_cls", _rpnCls);
        register_module("rpn_reg", _rpnReg);
        foreach (var (_, m) in named_modules())
            if (m is TorchSharp.Modules.Conv2d) ModuleTools.NormalInit(m, 0, 0.01);
    }

    public AnchorGenerator AnchorGenerator { get; }

    public IBBoxCoder BboxCoder { get; }

    public LossBase LossCls { get; }

    public LossBase LossBbox { get; }

    public int NumConvs { get; }

    /// <summary>Per level the classification logits [B, A, H, W] and deltas [B, 4A, H, W].</summary>
    public (Tensor[] ClsScores, Tensor[] BboxPreds) Forward(IReadOnlyList<Tensor> feats)
    {
        var cls = new Tensor[feats.Count];
        var reg = new Tensor[feats.Count];
        for (int i = 0; i < feats.Count; i++)
        {
            using var scope = NewDisposeScope();
            var x = _rpnConv.forward(feats[i]);
            if (NumConvs == 1) x = nn.functional.relu(x);
            cls[i] = _rpnCls.forward(x).MoveToOuterDisposeScope();
            reg[i] = _rpnReg.forward(x).MoveToOuterDisposeScope();
        }
        return (cls, reg);
    }

    private static List<(long H, long W)> FeatmapSizes(IReadOnlyList<Tensor> maps) => maps.Select(m => (m.shape[2], m.shape[3])).ToList();

    /// <summary><c>loss</c>: per-level <c>loss_rpn_cls</c> and <c>loss_rpn_bbox</c>.</summary>
    public (Tensor[] LossCls, Tensor[] LossBbox) Loss(Tensor[] clsScores, Tensor[] bboxPreds, IReadOnlyList<Tensor> gtBboxes,
        IReadOnlyList<ImgMeta> imgMetas, IReadOnlyList<Tensor?>? gtBboxesIgnore = null)
    {
        if (_trainCfg is null || _assigner is null || _sampler is null)
            throw new InvalidOperationException("RPNHead.Loss needs train_cfg (assigner, sampler).");
        var sizes = FeatmapSizes(clsScores);
        var device = clsScores[0].device;
        var anchors = AnchorGenerator.GridPriors(sizes, device);
        var numLevel = anchors.Select(x => x.shape[0]).ToList();
        var flatAnchors = cat(anchors, 0);
        int allowedBorder = _trainCfg.Get("allowed_border", -1);
        double posWeight = _trainCfg.Get("pos_weight", -1.0);
        var labels = new List<Tensor>();
        var labelWeights = new List<Tensor>();
        var bboxTargets = new List<Tensor>();
        var bboxWeights = new List<Tensor>();
        long numPos = 0, numNeg = 0;
        for (int i = 0; i < imgMetas.Count; i++)
        {
            var valid = cat(AnchorGenerator.ValidFlags(sizes, imgMetas[i].PadShape, device), 0);
            var inside = BoxTools.AnchorInsideFlags(flatAnchors, valid, imgMetas[i].ImgShape, allowedBorder);
            if (!inside.any().item<bool>())
                throw new DetSharpException("There is no valid anchor inside the image boundary. Please check the image size and anchor sizes, or set allowed_border to -1 to skip the condition.");
            var ancs = flatAnchors[inside];
            var gtIgnore = gtBboxesIgnore?[i];
            var assign = _assigner.Assign(ancs, gtBboxes[i], gtIgnore, null);
            var sampling = _sampler.Sample(assign, ancs, gtBboxes[i]);
            long nValid = ancs.shape[0];
            var bt = zeros_like(ancs);
            var bw = zeros_like(ancs);
            var lab = full(nValid, 1L, ScalarType.Int64, device);
            var lw = zeros(nValid, ScalarType.Float32, device);
            if (sampling.PosInds.numel() > 0)
            {
                bt[sampling.PosInds] = BboxCoder.Encode(sampling.PosBboxes, sampling.PosGtBboxes);
                bw[sampling.PosInds] = 1f;
                lab[sampling.PosInds] = 0L;
                lw[sampling.PosInds] = posWeight <= 0 ? 1f : (float)posWeight;
            }
            if (sampling.NegInds.numel() > 0) lw[sampling.NegInds] = 1f;
            long total = flatAnchors.shape[0];
            labels.Add(BoxTools.Unmap(lab, total, inside, 1));
            labelWeights.Add(BoxTools.Unmap(lw, total, inside));
            bboxTargets.Add(BoxTools.Unmap(bt, total, inside));
            bboxWeights.Add(BoxTools.Unmap(bw, total, inside));
            numPos += Math.Max(sampling.PosInds.numel(), 1);
            numNeg += Math.Max(sampling.NegInds.numel(), 1);
        }
        double numTotalSamples = numPos + numNeg;
        var labelsL = BoxTools.ImagesToLevels(labels, numLevel);
        var lwL = BoxTools.ImagesToLevels(labelWeights, numLevel);
        var btL = BoxTools.ImagesToLevels(bboxTargets, numLevel);
        var bwL = BoxTools.ImagesToLevels(bboxWeights, numLevel);
        var lossCls = new Tensor[clsScores.Length];
        var lossBbox = new Tensor[clsScores.Length];
        for (int l = 0; l < clsScores.Length; l++)
        {
            var lab = labelsL[l].reshape(-1);
            var lw = lwL[l].reshape(-1);
            var score = clsScores[l].permute(0, 2, 3, 1).reshape(-1, 1);
            lossCls[l] = LossCls.Forward(score, lab, lw, numTotalSamples);
            var bt = btL[l].reshape(-1, 4);
            var bw = bwL[l].reshape(-1, 4);
            var pred = bboxPreds[l].permute(0, 2, 3, 1).reshape(-1, 4);
            lossBbox[l] = LossBbox.Forward(pred, bt, bw, numTotalSamples);
        }
        return (lossCls, lossBbox);
    }

    /// <summary>
    /// <c>get_bboxes</c> for RPN: per image the proposals [N, 5] (x1, y1, x2, y2, score) in input-image coordinates,
    /// score-descending. <paramref name="cfg"/> defaults to test_cfg. Gradients are not tracked.
    /// </summary>
    public List<Tensor> GetBboxes(Tensor[] clsScores, Tensor[] bboxPreds, IReadOnlyList<ImgMeta> imgMetas, ConfigDict? cfg = null)
    {
        cfg ??= _testCfg ?? throw new InvalidOperationException("RPNHead.GetBboxes needs a test_cfg.");
        using var noGrad = no_grad();
        var sizes = FeatmapSizes(clsScores);
        var device = clsScores[0].device;
        var anchors = AnchorGenerator.GridPriors(sizes, device);
        int nmsPre = cfg.Get("nms_pre", -1);
        int maxPerImg = cfg.Has("max_per_img") ? cfg.Get<int>("max_per_img") : cfg.Get("max_num", 1000);
        double minBboxSize = cfg.Get("min_bbox_size", 0.0);
        var nms = cfg.Has("nms") ? Builders.Nms(cfg.Get<ConfigDict>("nms")) : new NmsConfig(cfg.Get("nms_thr", 0.7));
        var result = new List<Tensor>();
        for (int img = 0; img < imgMetas.Count; img++)
        {
            using var scope = NewDisposeScope();
            var scoresL = new List<Tensor>();
            var predsL = new List<Tensor>();
            var anchorsL = new List<Tensor>();
            var ids = new List<Tensor>();
            for (int l = 0; l < clsScores.Length; l++)
            {
                var scores = clsScores[l][img].detach().permute(1, 2, 0).reshape(-1).sigmoid();
                var pred = bboxPreds[l][img].detach().permute(1, 2, 0).reshape(-1, 4);
                var anc = anchors[l];
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
            var proposals = BboxCoder.Decode(cat(anchorsL), cat(predsL), imgMetas[img].ImgShape);
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
            result.Add(dets.MoveToOuterDisposeScope());
        }
        foreach (var a in anchors) a.Dispose();
        return result;
    }
}
