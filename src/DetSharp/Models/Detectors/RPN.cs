using DetSharp.Engine;
using DetSharp.Config;
using DetSharp.Models.Common;
using DetSharp.Models.DenseHeads;
using DetSharp.Registry;
using DetSharp.Structures;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Detectors;

/// <summary>
/// MMDetection's <c>RPN</c> detector: backbone → neck → <c>rpn_head</c>. Test results are the proposals (label 0),
/// divided by the scale factor when rescaled.
/// </summary>
[Register(Registries.ModelsName, "RPN")]
public sealed class RPN : BaseDetector
{
    private readonly nn.Module<Tensor, Tensor[]> _backbone;
    private readonly nn.Module<Tensor[], Tensor[]>? _neck;
    private readonly RPNHead _rpnHead;

    public RPN(ConfigDict backbone, ConfigDict? neck, ConfigDict rpnHead, ConfigDict? trainCfg = null, ConfigDict? testCfg = null,
        string? pretrained = null, object? initCfg = null)
        : base(nameof(RPN))
    {
        _ = pretrained;
        _ = initCfg;
        _backbone = Builders.Model<nn.Module<Tensor, Tensor[]>>(backbone);
        register_module("backbone", _backbone);
        if (neck is not null)
        {
            _neck = Builders.Model<nn.Module<Tensor[], Tensor[]>>(neck);
            register_module("neck", _neck);
        }
        var cfg = Builders.With(rpnHead, ("train_cfg", trainCfg?.Get<object?>("rpn", null)), ("test_cfg", testCfg?.Get<object?>("rpn", null)));
        _rpnHead = Builders.Model<RPNHead>(cfg);
        register_module("rpn_head", _rpnHead);
    }

    public RPNHead RpnHead => _rpnHead;

    public override int NumClasses => 1;

    public override Tensor[] ExtractFeat(Tensor img)
    {
        var x = _backbone.forward(img);
        if (_neck is null) return x;
        using var scope = NewDisposeScope();
        var y = _neck.forward(x);
        foreach (var t in y) t.MoveToOuterDisposeScope();
        return y;
    }

    public override LossDict ForwardTrain(Tensor img, IReadOnlyList<ImgMeta> imgMetas, IReadOnlyList<Tensor> gtBboxes,
        IReadOnlyList<Tensor> gtLabels, IReadOnlyList<IInstanceMasks>? gtMasks = null, IReadOnlyList<Tensor?>? gtBboxesIgnore = null)
    {
        CheckBatch(img, imgMetas);
        using var scope = NewDisposeScope();
        var (cls, reg) = _rpnHead.Forward(ExtractFeat(img));
        var (lc, lb) = _rpnHead.Loss(cls, reg, gtBboxes, imgMetas, gtBboxesIgnore);
        var losses = new LossDict();
        losses.Add("loss_rpn_cls", lc);
        losses.Add("loss_rpn_bbox", lb);
        return losses.MoveToOuterDisposeScope();
    }

    public override List<DetectionResult> SimpleTest(Tensor img, IReadOnlyList<ImgMeta> imgMetas, bool rescale = true)
    {
        CheckBatch(img, imgMetas);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var (cls, reg) = _rpnHead.Forward(ExtractFeat(img));
        var proposals = _rpnHead.GetBboxes(cls, reg, imgMetas);
        var results = new List<DetectionResult>();
        for (int i = 0; i < proposals.Count; i++)
        {
            var p = proposals[i];
            if (rescale && p.shape[0] > 0)
                p = cat([p[.., 0..4] / tensor(imgMetas[i].ScaleFactor), p[.., 4..5]], 1);
            var d = p.contiguous().data<float>().ToArray();
            results.Add(DetectionResult.GroupByClass(d, new int[p.shape[0]], null, 1));
        }
        return results;
    }
}
