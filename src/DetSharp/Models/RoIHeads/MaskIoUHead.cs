using DetSharp.Config;
using DetSharp.Engine;
using DetSharp.Models.Common;
using DetSharp.Models.Losses;
using DetSharp.Models.TaskModules;
using DetSharp.Registry;
using DetSharp.Structures;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.RoIHeads;

/// <summary>
/// MMDetection's <c>MaskIoUHead</c> (Mask Scoring R-CNN): predicts, per class, the IoU of the predicted mask with its
/// GT instance from the mask branch's RoI features concatenated with the predicted mask of the RoI's class
/// (sigmoid, 2×2 max-pooled to the feature size): <c>num_convs</c> 3×3 convs + ReLU (the last one strided 2,
/// <c>convs.i</c>), <c>num_fcs</c> fully connected + ReLU (<c>fcs.i</c>), <c>fc_mask_iou</c>. Default init as its
/// <c>init_cfg</c>: Kaiming convs, Caffe2Xavier fcs, Normal(0.01) predictor.
/// </summary>
[Register(Registries.ModelsName, "MaskIoUHead")]
public sealed class MaskIoUHead : nn.Module, IHasNumClasses, Weights.IHasInitCfg
{
    private readonly List<TorchSharp.Modules.Conv2d> _convs = [];
    private readonly List<TorchSharp.Modules.Linear> _fcs = [];
    private readonly TorchSharp.Modules.Linear _fcMaskIou;

    public MaskIoUHead(int numConvs = 4, int numFcs = 2, int roiFeatSize = 14, int inChannels = 256, int convOutChannels = 256,
        int fcOutChannels = 1024, int numClasses = 80, ConfigDict? lossIou = null, object? initCfg = null)
        : base(nameof(MaskIoUHead))
    {
        if (numConvs < 1) throw new DetSharpException($"MaskIoUHead: num_convs must be at least 1 (the last conv halves the features), got {numConvs}.");
        if (numFcs < 1) throw new DetSharpException($"MaskIoUHead: num_fcs must be at least 1, got {numFcs}.");
        InitCfg = initCfg;
        NumClasses = numClasses;
        for (int i = 0; i < numConvs; i++)
            _convs.Add(nn.Conv2d(i == 0 ? inChannels + 1 : convOutChannels, convOutChannels, 3, stride: i == numConvs - 1 ? 2 : 1, padding: 1));
        int pooledArea = roiFeatSize / 2 * (roiFeatSize / 2);
        for (int i = 0; i < numFcs; i++)
            _fcs.Add(nn.Linear(i == 0 ? convOutChannels * pooledArea : fcOutChannels, fcOutChannels));
        _fcMaskIou = nn.Linear(fcOutChannels, numClasses);
        register_module("convs", nn.ModuleList(_convs.ToArray()));
        register_module("fcs", nn.ModuleList(_fcs.ToArray()));
        register_module("fc_mask_iou", _fcMaskIou);
        foreach (var conv in _convs) ModuleTools.KaimingInit(conv);
        foreach (var fc in _fcs) Caffe2XavierInit(fc);
        ModuleTools.NormalInit(_fcMaskIou, 0, 0.01);
        LossIou = Builders.Loss(lossIou ?? new ConfigDict { ["type"] = "MSELoss", ["loss_weight"] = 0.5 });
    }

    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    /// <summary>mmcv's <c>Caffe2XavierInit</c>: Kaiming uniform with a=1, fan_in, leaky_relu; bias 0.</summary>
    private static void Caffe2XavierInit(TorchSharp.Modules.Linear fc)
    {
        using var _ = no_grad();
        nn.init.kaiming_uniform_(fc.weight, a: 1, mode: nn.init.FanInOut.FanIn, nonlinearity: nn.init.NonlinearityType.LeakyReLU);
        fc.bias?.zero_();
    }

    /// <summary>The <c>init_cfg</c> as given (applied by <see cref="Weights.PretrainedInit.InitWeights"/>).</summary>
    public object? InitCfg { get; }

    public int NumClasses { get; }

    public LossBase LossIou { get; }

    /// <summary>IoU predictions [K, num_classes] for mask features [K, C, s, s] and mask logits [K, 2s, 2s] of each RoI's class.</summary>
    public Tensor Forward(Tensor maskFeat, Tensor maskPred)
    {
        using var scope = NewDisposeScope();
        var pooled = nn.functional.max_pool2d(maskPred.sigmoid().unsqueeze(1), 2, 2);
        var x = cat([maskFeat, pooled], 1);
        foreach (var conv in _convs) x = nn.functional.relu(conv.forward(x));
        x = x.flatten(1);
        foreach (var fc in _fcs) x = nn.functional.relu(fc.forward(x));
        return _fcMaskIou.forward(x).MoveToOuterDisposeScope();
    }

    /// <summary><c>loss</c>: <c>loss_mask_iou</c> over the positives with a target &gt; 0 (zero when there are none).</summary>
    public Tensor Loss(Tensor maskIouPred, Tensor maskIouTargets)
    {
        var pos = maskIouTargets > 0;
        return pos.any().item<bool>() ? LossIou.Forward(maskIouPred[pos], maskIouTargets[pos]) : maskIouPred.sum() * 0;
    }

    /// <summary>
    /// <c>get_targets</c>: per positive, the IoU of its binarised predicted mask (<c>mask_thr_binary</c>) with its target,
    /// where the GT's full area is the target's area divided by the share of the GT instance that lies inside the
    /// proposal (the proposal's integer box cropped from the GT mask, as MMDetection's <c>_get_area_ratio</c>).
    /// </summary>
    public static Tensor GetTargets(IReadOnlyList<SamplingResult> samplingResults, IReadOnlyList<IInstanceMasks> gtMasks, Tensor maskPred,
        Tensor maskTargets, ConfigDict rcnnTrainCfg)
    {
        using var scope = NewDisposeScope();
        var ratios = new List<float>();
        for (int i = 0; i < samplingResults.Count; i++)
        {
            var res = samplingResults[i];
            if (res.PosBboxes.shape[0] == 0) continue;
            var boxes = res.PosBboxes.detach().to(CPU).to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
            var inds = res.PosAssignedGtInds.to(CPU).data<long>().ToArray();
            var areas = gtMasks[i].Areas();
            for (int k = 0; k < inds.Length; k++)
            {
                int g = (int)inds[k];
                // numpy's astype(np.int32): truncation toward zero
                var crop = gtMasks[i].Select([g]).Crop((int)boxes[4 * k], (int)boxes[4 * k + 1], (int)boxes[4 * k + 2], (int)boxes[4 * k + 3]);
                ratios.Add((float)(crop.Areas()[0] / (areas[g] + 1e-7)));
            }
        }
        var areaRatios = tensor(ratios.ToArray(), device: maskTargets.device);
        if (areaRatios.shape[0] != maskTargets.shape[0])
            throw new InvalidOperationException($"MaskIoUHead: {maskTargets.shape[0]} mask targets for {areaRatios.shape[0]} positives.");
        var binary = (maskPred > rcnnTrainCfg.Get<double>("mask_thr_binary")).to_type(ScalarType.Float32);
        var predAreas = binary.sum([-1, -2]);
        var overlap = (binary * maskTargets).sum([-1, -2]);
        var gtFullAreas = maskTargets.sum([-1, -2]) / (areaRatios + 1e-7);
        return (overlap / (predAreas + gtFullAreas - overlap)).MoveToOuterDisposeScope();
    }
}
