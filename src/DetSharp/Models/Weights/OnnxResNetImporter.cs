using DetSharp.Models.Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Weights;

/// <summary>What <see cref="OnnxResNetImporter"/> found: the weights under <c>ResNet</c>'s keys and the architecture.</summary>
/// <param name="StateDict">Keys as MMDetection's ResNet (<c>conv1.weight</c>, <c>bn1.running_mean</c>, <c>layer4.2.conv2.weight</c>, ...), PyTorch's order.</param>
/// <param name="StageBlocks">Residual blocks per stage (the CNTK ResNet-18 of ML.NET: 2, 2, 2, 3).</param>
/// <param name="PadMode">'cntk' when the stem conv pads 3 before and 2 after (as ResNet's <c>pad_mode</c>), else 'pytorch'.</param>
/// <param name="Unmapped">Initializers that are not part of the backbone (e.g. a classifier), by name.</param>
public sealed record OnnxResNetWeights(Dictionary<string, Tensor> StateDict, int[] StageBlocks, string PadMode, IReadOnlyList<string> Unmapped);

/// <summary>
/// Maps the initializers of an ONNX ResNet (basic or projection-shortcut blocks, conv + BatchNormalization not folded,
/// e.g. ML.NET's ResNet18.onnx exported from CNTK) onto DetSharp's <c>ResNet</c> names by following the graph: the
/// conv fed by the graph input is the stem (<c>conv1</c>/<c>bn1</c>); each residual <c>Add</c>, in graph order, is a
/// block whose main branch is Conv→BN→Relu→Conv→BN (<c>conv1</c>, <c>bn1</c>, <c>conv2</c>, <c>bn2</c>) and whose other
/// input is the block input (identity) or Conv→BN of it (<c>downsample.0</c>/<c>downsample.1</c>). A block with a
/// projection shortcut starts a new stage (<c>layer1</c>..<c>layer4</c>). BatchNormalization's scale, B, mean and var
/// become <c>weight</c>, <c>bias</c>, <c>running_mean</c>, <c>running_var</c> (and <c>num_batches_tracked</c> = 0).
/// </summary>
public static class OnnxResNetImporter
{
    public static OnnxResNetWeights Import(OnnxModel model, string source = "ONNX model")
    {
        var producer = new Dictionary<string, OnnxNode>();
        foreach (var n in model.Nodes)
            foreach (var o in n.Outputs) producer[o] = n;
        var inits = model.InitializersByName;
        string input = model.Inputs.Select(i => i.Name).FirstOrDefault(n => !inits.ContainsKey(n))
            ?? throw new DetSharpException($"{source}: the graph has no input that is not an initializer.");

        OnnxNode? Producer(string name, string op) => producer.TryGetValue(name, out var n) && n.OpType == op ? n : null;

        var stemConv = model.Nodes.FirstOrDefault(n => n.OpType == "Conv" && n.Inputs.Count > 0 && n.Inputs[0] == input)
            ?? throw new DetSharpException($"{source}: no Conv node reads the graph input '{input}'; not a ResNet.");
        var stemBn = model.Nodes.FirstOrDefault(n => n.OpType == "BatchNormalization" && n.Inputs[0] == stemConv.Outputs[0])
            ?? throw new DetSharpException($"{source}: the stem conv '{stemConv.Name}' is not followed by BatchNormalization (folded BN is not supported).");
        var stemPads = stemConv.Ints("pads", [0, 0, 0, 0]);
        string padMode = stemPads.Length == 4 && stemPads[0] == 3 && stemPads[1] == 3 && stemPads[2] == 2 && stemPads[3] == 2 ? "cntk" : "pytorch";

        var sd = new Dictionary<string, Tensor>();
        var used = new HashSet<string>();
        try
        {
            AddConv(sd, used, inits, stemConv, "conv1", source);
            AddBn(sd, used, inits, stemBn, "bn1", source);
            var stageBlocks = new List<int>();
            foreach (var add in model.Nodes.Where(n => n.OpType == "Add"))
            {
                if (add.Inputs.Count != 2) continue;
                (OnnxNode c1, OnnxNode b1, OnnxNode c2, OnnxNode b2, string x)? Main(string t)
                {
                    var b2 = Producer(t, "BatchNormalization");
                    var c2 = b2 is null ? null : Producer(b2.Inputs[0], "Conv");
                    var relu = c2 is null ? null : Producer(c2.Inputs[0], "Relu");
                    var b1 = relu is null ? null : Producer(relu.Inputs[0], "BatchNormalization");
                    var c1 = b1 is null ? null : Producer(b1.Inputs[0], "Conv");
                    return c1 is null ? null : (c1, b1!, c2!, b2!, c1.Inputs[0]);
                }
                var main = Main(add.Inputs[0]);
                string other = add.Inputs[1];
                if (main is null)
                {
                    main = Main(add.Inputs[1]);
                    other = add.Inputs[0];
                }
                if (main is null)
                    throw new DetSharpException($"{source}: residual Add '{add.Name}' has no Conv-BN-Relu-Conv-BN branch; only basic-block ResNets are supported.");
                var (c1, b1, c2, b2, x) = main.Value;
                (OnnxNode Conv, OnnxNode Bn)? shortcut = null;
                if (other != x)
                {
                    var bn = Producer(other, "BatchNormalization");
                    var conv = bn is null ? null : Producer(bn.Inputs[0], "Conv");
                    if (conv is null || conv.Inputs[0] != x)
                        throw new DetSharpException($"{source}: the shortcut of residual Add '{add.Name}' is neither the block input nor Conv-BN of it.");
                    shortcut = (conv, bn!);
                }
                if (stageBlocks.Count == 0 || shortcut is not null) stageBlocks.Add(0);
                if (stageBlocks.Count > 4) throw new DetSharpException($"{source}: more than 4 stages of residual blocks.");
                string prefix = $"layer{stageBlocks.Count}.{stageBlocks[^1]}.";
                stageBlocks[^1]++;
                AddConv(sd, used, inits, c1, prefix + "conv1", source);
                AddBn(sd, used, inits, b1, prefix + "bn1", source);
                AddConv(sd, used, inits, c2, prefix + "conv2", source);
                AddBn(sd, used, inits, b2, prefix + "bn2", source);
                if (shortcut is { } s)
                {
                    AddConv(sd, used, inits, s.Conv, prefix + "downsample.0", source);
                    AddBn(sd, used, inits, s.Bn, prefix + "downsample.1", source);
                }
            }
            if (stageBlocks.Count == 0) throw new DetSharpException($"{source}: no residual blocks found; not a ResNet.");
            var unmapped = model.Initializers.Select(t => t.Name).Where(n => !used.Contains(n)).ToList();
            return new OnnxResNetWeights(sd, stageBlocks.ToArray(), padMode, unmapped);
        }
        catch
        {
            foreach (var t in sd.Values) t.Dispose();
            throw;
        }
    }

    private static Tensor ToTensor(OnnxTensor t, string source)
    {
        if (t.DataType != OnnxTensor.Float)
            throw new DetSharpException($"{source}: initializer '{t.Name}' is not float32 (ONNX data type {t.DataType}).");
        return tensor(t.Data, t.Dims);
    }

    private static OnnxTensor Init(IReadOnlyDictionary<string, OnnxTensor> inits, OnnxNode node, int index, string source) =>
        index < node.Inputs.Count && inits.TryGetValue(node.Inputs[index], out var t)
            ? t
            : throw new DetSharpException($"{source}: input {index} of {node.OpType} '{node.Name}' is not an initializer.");

    private static void AddConv(Dictionary<string, Tensor> sd, HashSet<string> used, IReadOnlyDictionary<string, OnnxTensor> inits, OnnxNode conv, string name, string source)
    {
        if (conv.Inputs.Count > 2) throw new DetSharpException($"{source}: Conv '{conv.Name}' has a bias; ResNet convs have none.");
        if (conv.Int("group", 1) != 1) throw new DetSharpException($"{source}: Conv '{conv.Name}' is grouped; not supported.");
        var w = Init(inits, conv, 1, source);
        sd[name + ".weight"] = ToTensor(w, source);
        used.Add(w.Name);
    }

    private static void AddBn(Dictionary<string, Tensor> sd, HashSet<string> used, IReadOnlyDictionary<string, OnnxTensor> inits, OnnxNode bn, string name, string source)
    {
        if (Math.Abs(bn.Float("epsilon", 1e-5f) - 1e-5f) > 1e-9f)
            throw new DetSharpException($"{source}: BatchNormalization '{bn.Name}' has epsilon {bn.Float("epsilon", 1e-5f)}; ResNet's BatchNorm2d uses 1e-5.");
        string[] keys = ["weight", "bias", "running_mean", "running_var"];
        for (int i = 0; i < 4; i++)
        {
            var t = Init(inits, bn, i + 1, source);
            sd[$"{name}.{keys[i]}"] = ToTensor(t, source);
            used.Add(t.Name);
        }
        sd[name + ".num_batches_tracked"] = tensor(0L);
    }
}
