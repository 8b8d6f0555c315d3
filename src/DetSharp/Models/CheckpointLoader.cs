using DetSharp.Engine.Checkpoints;
using DetSharp.Models.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models;

/// <summary>
/// Loads weights into a model, as mmcv's <c>load_checkpoint</c>: a PyTorch <c>.pth</c> (a bare state dict or mmcv's
/// <c>{meta, state_dict, optimizer}</c>, zip or legacy format), <c>.safetensors</c>, an ONNX ResNet or
/// <c>nuget://resnet18-imagenet</c>, or an <c>http(s)://</c> URL or model-zoo name downloaded into torch's cache (all read by <see cref="PretrainedWeights.Read"/>); a leading <c>module.</c>
/// (DataParallel) is removed.
/// </summary>
public static class CheckpointLoader
{
    /// <summary>The tensors of the checkpoint's state dict, by key, in file order.</summary>
    public static Dictionary<string, Tensor> LoadStateDict(string path)
    {
        var sd = PretrainedWeights.Read(path);
        if (sd.Count == 0) throw new DetSharpException($"checkpoint '{path}' holds no tensors (expected a state dict).");
        return sd;
    }

    /// <summary>Loads a checkpoint into a model (mmcv's <c>load_checkpoint</c>; non-strict unless asked).</summary>
    public static StateDictLoadReport Load(nn.Module model, string path, bool strict = false)
    {
        var sd = LoadStateDict(path);
        try
        {
            return Checkpoint.LoadStateDict(model, sd, strict);
        }
        finally
        {
            foreach (var t in sd.Values) t.Dispose();
        }
    }
}
