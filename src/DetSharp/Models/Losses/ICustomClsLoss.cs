using static TorchSharp.torch;

namespace DetSharp.Models.Losses;

/// <summary>
/// A classification loss that owns the RoI bbox head's classifier layout, as MMDetection's BBoxHead asks its loss through
/// <c>custom_cls_channels</c> / <c>custom_activation</c> / <c>custom_accuracy</c> (SeesawLoss): how many logits to
/// predict, how they become [N, C+1] scores (background last), which accuracies to log, and the loss entries to report.
/// </summary>
public interface ICustomClsLoss
{
    /// <summary><c>get_cls_channels(num_classes)</c>: the classifier's output size.</summary>
    int GetClsChannels(int numClasses);

    /// <summary><c>get_activation(cls_score)</c>: scores [N, C+1], background last.</summary>
    Tensor GetActivation(Tensor clsScore);

    /// <summary><c>get_accuracy(cls_score, labels)</c>: named accuracies in percent.</summary>
    IReadOnlyList<(string Name, Tensor Value)> GetAccuracy(Tensor clsScore, Tensor labels);

    /// <summary>The loss as the head logs it: named parts (<c>return_dict=True</c>) or one <c>loss_cls</c>.</summary>
    IReadOnlyList<(string Name, Tensor Value)> Losses(Tensor clsScore, Tensor labels, Tensor? labelWeights, double? avgFactor);
}
