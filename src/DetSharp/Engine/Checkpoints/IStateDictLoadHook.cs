using static TorchSharp.torch;

namespace DetSharp.Engine.Checkpoints;

/// <summary>
/// A module that adjusts itself after its tensors were loaded from a state dict, as a PyTorch module overriding
/// <c>_load_from_state_dict</c> does (mmcv's ConvAWS2d recovers <c>weight_gamma</c> / <c>weight_beta</c> that a plain
/// checkpoint lacks). <see cref="Checkpoint.LoadStateDict"/> calls it for every such module of the model.
/// </summary>
public interface IStateDictLoadHook
{
    /// <summary>
    /// Called once the model's matching tensors are copied. <paramref name="prefix"/> is the module's key prefix
    /// (<c>backbone.conv1.</c>); remove from <paramref name="missingKeys"/> the keys the module has recovered.
    /// </summary>
    void AfterLoad(string prefix, IReadOnlyDictionary<string, Tensor> source, List<string> missingKeys);
}
