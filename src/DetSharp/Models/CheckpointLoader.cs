using System.Collections;
using DetSharp.Models.Common;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace DetSharp.Models;

/// <summary>
/// Reads PyTorch <c>.pth</c> checkpoints (pickle + tensor storage zip, via TorchSharp.PyBridge): a plain state dict,
/// or mmcv's <c>{meta, state_dict, optimizer}</c> layout (as written by <c>save_checkpoint</c>). A <c>module.</c>
/// prefix (DataParallel) is removed, as mmcv's <c>load_checkpoint</c> does.
/// </summary>
public static class CheckpointLoader
{
    /// <summary>The tensors of the checkpoint's state dict, by key, in file order.</summary>
    public static Dictionary<string, Tensor> LoadStateDict(string path)
    {
        if (!File.Exists(path)) throw new DetSharpException($"checkpoint '{path}' not found.");
        Hashtable root;
        try
        {
            root = PyTorchUnpickler.UnpickleStateDict(path);
        }
        catch (Exception e) when (e is not DetSharpException)
        {
            throw new DetSharpException($"checkpoint '{path}' could not be read as a PyTorch .pth file: {e.Message}");
        }
        IDictionary dict = root;
        if (root.ContainsKey("state_dict") && root["state_dict"] is IDictionary inner) dict = inner;
        var result = new Dictionary<string, Tensor>();
        foreach (DictionaryEntry e in dict)
        {
            if (e.Value is not Tensor t) continue;
            string key = (string)e.Key;
            if (key.StartsWith("module.", StringComparison.Ordinal)) key = key["module.".Length..];
            result[key] = t;
        }
        if (result.Count == 0) throw new DetSharpException($"checkpoint '{path}' holds no tensors (expected a state dict).");
        return result;
    }

    /// <summary>Loads a checkpoint into a model (mmcv's <c>load_checkpoint</c>; non-strict unless asked).</summary>
    public static LoadReport Load(nn.Module model, string path, bool strict = false)
    {
        var sd = LoadStateDict(path);
        try
        {
            return ModuleTools.LoadStateDict(model, sd, strict);
        }
        finally
        {
            foreach (var t in sd.Values) t.Dispose();
        }
    }
}
