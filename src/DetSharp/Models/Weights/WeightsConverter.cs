using System.Globalization;
using DetSharp.Engine.Checkpoints;
using static TorchSharp.torch;

namespace DetSharp.Models.Weights;

/// <summary>What <see cref="WeightsConverter.Convert"/> wrote.</summary>
public sealed record WeightsConversion(string Output, int Tensors, long Elements, IReadOnlyList<string> Keys);

/// <summary>
/// <c>detsharp convert weights</c>: any weights DetSharp reads (PyTorch <c>.pth</c>, safetensors, an ONNX ResNet,
/// <c>nuget://resnet18-imagenet</c>) written as an mmcv checkpoint <c>{'meta': {...}, 'state_dict': OrderedDict}</c>
/// that <c>load_from</c>, <c>init_cfg</c> and Python's <c>torch.load</c> read. The file is written atomically.
/// </summary>
public static class WeightsConverter
{
    /// <param name="prefix">Prepended to every key with a '.' (e.g. "backbone" turns ResNet weights into detector keys for <c>load_from</c>).</param>
    public static WeightsConversion Convert(string input, string output, WeightsFormat format = WeightsFormat.Auto, string? prefix = null)
    {
        var sd = PretrainedWeights.Read(input, format);
        try
        {
            string p = string.IsNullOrEmpty(prefix) ? "" : prefix.TrimEnd('.') + ".";
            var stateDict = new PyDict(isOrderedDict: true);
            long elements = 0;
            foreach (var (key, t) in sd)
            {
                stateDict[p + key] = t;
                elements += t.numel();
            }
            var meta = new PyDict
            {
                ["source"] = input,
                ["converted_by"] = "detsharp convert weights",
                ["time"] = DateTime.Now.ToString("ddd MMM d HH:mm:ss yyyy", CultureInfo.InvariantCulture),
            };
            var checkpoint = new PyDict { ["meta"] = meta, ["state_dict"] = stateDict };
            Checkpoint.WriteAtomically(output, stream => TorchSerialization.Save(checkpoint, stream));
            return new WeightsConversion(output, sd.Count, elements, sd.Keys.Select(k => p + k).ToList());
        }
        finally
        {
            foreach (var t in sd.Values) t.Dispose();
        }
    }
}
