using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Losses;

/// <summary>
/// MMDetection's <c>SeesawLoss</c> (Wang et al., CVPR 2021, for long-tailed LVIS): the classifier predicts C class logits
/// plus 2 objectness logits (foreground, background). Foreground RoIs get a softmax cross-entropy over the C classes whose
/// negative logits are shifted by <c>log(mitigation · compensation)</c>: mitigation <c>(N_j / N_i)^p</c> when class j has
/// been seen less often than the label i (<c>cum_samples</c>, counted over training, a buffer of the state dict), and
/// compensation <c>(σ_j / σ_i)^q</c> when the prediction of j exceeds the label's (σ = softmax, σ_i clamped to eps).
/// Every RoI gets a cross-entropy on the objectness pair. Scores at test time: class softmax × foreground probability,
/// then the background probability (<see cref="GetActivation"/>).
/// </summary>
[Register(Registries.ModelsName, "SeesawLoss")]
public sealed class SeesawLoss : LossBase, ICustomClsLoss, IStatefulLoss, IDisposable
{
    private readonly SeesawCounts _counts;

    public SeesawLoss(bool useSigmoid = false, double p = 0.8, double q = 2.0, int numClasses = 1203, double eps = 1e-2,
        string reduction = "mean", double lossWeight = 1.0, bool returnDict = true)
        : base(reduction, lossWeight)
    {
        if (useSigmoid) throw new DetSharpException("SeesawLoss: use_sigmoid=True is not supported (as in MMDetection).");
        P = p;
        Q = q;
        NumClasses = numClasses;
        Eps = eps;
        ReturnDict = returnDict;
        _counts = new SeesawCounts(numClasses);
    }

    public double P { get; }

    public double Q { get; }

    public int NumClasses { get; }

    public double Eps { get; }

    public bool ReturnDict { get; }

    public nn.Module State => _counts;

    /// <summary>Samples seen per label (background last), as training counted them.</summary>
    public Tensor CumSamples => _counts.CumSamples;

    public void Dispose() => _counts.Dispose();

    public int GetClsChannels(int numClasses)
    {
        if (numClasses != NumClasses)
            throw new DetSharpException($"SeesawLoss: num_classes is {NumClasses} but the bbox head has {numClasses}; set loss_cls.num_classes={numClasses}.");
        return numClasses + 2;
    }

    public Tensor GetActivation(Tensor clsScore)
    {
        using var scope = NewDisposeScope();
        var (classes, objectness) = Split(clsScore);
        var scoreClasses = nn.functional.softmax(classes, -1);
        var scoreObjectness = nn.functional.softmax(objectness, -1);
        return cat([scoreClasses * scoreObjectness[.., 0..1], scoreObjectness[.., 1..2]], -1).MoveToOuterDisposeScope();
    }

    public IReadOnlyList<(string Name, Tensor Value)> GetAccuracy(Tensor clsScore, Tensor labels)
    {
        var (classes, objectness) = Split(clsScore);
        var pos = labels < NumClasses;
        var objLabels = (labels == NumClasses).to_type(ScalarType.Int64);
        return [("acc_objectness", Accuracy.Top1(objectness, objLabels)), ("acc_classes", Accuracy.Top1(classes[pos], labels[pos]))];
    }

    /// <summary>The sum of both parts (MMDetection's <c>return_dict=False</c>).</summary>
    public override Tensor Forward(Tensor pred, Tensor target, Tensor? weight = null, double? avgFactor = null, string? reductionOverride = null)
    {
        var (classes, objectness) = Parts(pred, target, weight, avgFactor, reductionOverride);
        return classes + objectness;
    }

    public IReadOnlyList<(string Name, Tensor Value)> Losses(Tensor clsScore, Tensor labels, Tensor? labelWeights, double? avgFactor)
    {
        var (classes, objectness) = Parts(clsScore, labels, labelWeights, avgFactor, null);
        return ReturnDict ? [("loss_cls_objectness", objectness), ("loss_cls_classes", classes)] : [("loss_cls", classes + objectness)];
    }

    private (Tensor Classes, Tensor Objectness) Parts(Tensor clsScore, Tensor labels, Tensor? labelWeights, double? avgFactor, string? reductionOverride)
    {
        string reduction = reductionOverride ?? Reduction;
        if (clsScore.shape[^1] != NumClasses + 2)
            throw new DetSharpException($"SeesawLoss: expected {NumClasses + 2} logits (classes + 2 objectness), got {clsScore.shape[^1]}.");
        labels = labels.to_type(ScalarType.Int64);
        // Count this batch first, as MMDetection does before computing the loss.
        _counts.Add(labels);
        var weights = labelWeights?.to_type(ScalarType.Float32) ?? ones(labels.shape[0], ScalarType.Float32, labels.device);
        var pos = labels < NumClasses;
        var (classes, objectness) = Split(clsScore);
        Tensor classLoss = pos.any().item<bool>()
            ? LossWeight * SeesawCrossEntropy(classes[pos], labels[pos], weights[pos], _counts.CumSamples[..NumClasses], reduction, avgFactor)
            : classes[pos].sum();
        var objLabels = (labels == NumClasses).to_type(ScalarType.Int64);
        var objLoss = nn.functional.cross_entropy(objectness, objLabels, reduction: nn.Reduction.None);
        return (classLoss, LossWeight * LossUtils.WeightReduceLoss(objLoss, weights, reduction, avgFactor));
    }

    /// <summary>MMDetection's <c>seesaw_ce_loss</c> on the foreground RoIs.</summary>
    private Tensor SeesawCrossEntropy(Tensor clsScore, Tensor labels, Tensor weights, Tensor cumSamples, string reduction, double? avgFactor)
    {
        var onehot = nn.functional.one_hot(labels, NumClasses);
        var seesaw = ones_like(clsScore);
        if (P > 0)
        {
            var ratio = cumSamples.unsqueeze(0).clamp(min: 1) / cumSamples.unsqueeze(1).clamp(min: 1);
            var index = (ratio < 1.0).to_type(ScalarType.Float32);
            var sampleWeights = ratio.pow(P) * index + (1 - index);
            seesaw = seesaw * sampleWeights.index_select(0, labels);
        }
        if (Q > 0)
        {
            var scores = nn.functional.softmax(clsScore.detach(), 1);
            var selfScores = scores.gather(1, labels.unsqueeze(1));
            var scoreMatrix = scores / selfScores.clamp(min: Eps);
            var index = (scoreMatrix > 1.0).to_type(ScalarType.Float32);
            seesaw = seesaw * (scoreMatrix.pow(Q) * index + (1 - index));
        }
        var adjusted = clsScore + seesaw.log() * (1 - onehot);
        var loss = nn.functional.cross_entropy(adjusted, labels, reduction: nn.Reduction.None);
        return LossUtils.WeightReduceLoss(loss, weights, reduction, avgFactor);
    }

    private static (Tensor Classes, Tensor Objectness) Split(Tensor clsScore) => (clsScore[.., ..^2], clsScore[.., ^2..]);

    /// <summary>The <c>cum_samples</c> buffer [num_classes + 1] under the loss's state-dict name.</summary>
    private sealed class SeesawCounts : nn.Module
    {
        public SeesawCounts(int numClasses)
            : base(nameof(SeesawCounts))
        {
            register_buffer("cum_samples", zeros(numClasses + 1, ScalarType.Float32));
        }

        /// <summary>Looked up by name: moving the model to a device replaces the registered tensor.</summary>
        public Tensor CumSamples => get_buffer("cum_samples")!;

        protected override void RegisterComponents()
        {
        }

        public void Add(Tensor labels)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            CumSamples.add_(bincount(labels.to(CumSamples.device), minlength: CumSamples.shape[0]).to_type(ScalarType.Float32));
        }
    }
}
