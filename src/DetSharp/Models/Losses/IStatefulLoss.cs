using static TorchSharp.torch;

namespace DetSharp.Models.Losses;

/// <summary>
/// A loss that keeps tensors between iterations (GHM's bin edges and moving-average counts). MMDetection's losses are
/// <c>nn.Module</c>s, so those buffers sit in the model's <c>state_dict</c> under the head's loss attribute
/// (<c>bbox_head.loss_cls.acc_sum</c>); heads register <see cref="State"/> there.
/// </summary>
public interface IStatefulLoss
{
    /// <summary>The module holding the loss's buffers.</summary>
    nn.Module State { get; }
}
