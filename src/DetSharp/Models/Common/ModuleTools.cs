using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Common;

/// <summary>
/// Helpers over TorchSharp modules with PyTorch's conventions: <see cref="StateDict"/> walks the tree in PyTorch's
/// order (own parameters, own buffers, then children), which TorchSharp's <c>state_dict()</c> does not (it lists all
/// parameters first); parameter counts; MMDetection/mmcv initialisers. Loading weights is
/// <see cref="Engine.Checkpoints.Checkpoint.LoadStateDict"/>'s job (the one state-dict loader).
/// </summary>
public static class ModuleTools
{
    /// <summary>Every parameter and persistent buffer as PyTorch's <c>state_dict()</c> orders them.</summary>
    public static List<(string Key, Tensor Value, bool IsParameter)> StateDict(nn.Module module)
    {
        var list = new List<(string, Tensor, bool)>();
        Walk(module, "", list);
        return list;
    }

    private static void Walk(nn.Module module, string prefix, List<(string, Tensor, bool)> list)
    {
        foreach (var (name, p) in module.named_parameters(recurse: false))
            list.Add((prefix + name, p, true));
        foreach (var (name, b) in module.named_buffers(recurse: false))
            list.Add((prefix + name, b, false));
        foreach (var (name, child) in module.named_children())
            Walk(child, prefix + name + ".", list);
    }

    /// <summary>Total and trainable (requires_grad) parameter element counts.</summary>
    public static (long Total, long Trainable) CountParameters(nn.Module module)
    {
        long total = 0, trainable = 0;
        foreach (var (_, p) in module.named_parameters())
        {
            total += p.numel();
            if (p.requires_grad) trainable += p.numel();
        }
        return (total, trainable);
    }

    /// <summary>Formats a shape as the fixtures do: <c>[d0, d1]</c>, <c>[]</c> for scalars.</summary>
    public static string FormatShape(long[] shape) => "[" + string.Join(", ", shape) + "]";

    /// <summary>The state dict as the fixtures' TSV: one <c>key\t[shape]</c> line per entry.</summary>
    public static string StateDictTsv(nn.Module module)
    {
        var sb = new StringBuilder();
        foreach (var (key, value, _) in StateDict(module))
            sb.Append(key).Append('\t').Append(FormatShape(value.shape)).Append('\n');
        return sb.ToString();
    }

    /// <summary>mmcv <c>kaiming_init</c> (normal, given mode, a=0 relu), bias filled with <paramref name="bias"/>.</summary>
    public static void KaimingInit(nn.Module conv, string mode = "fan_out", double bias = 0)
    {
        using var _ = no_grad();
        var w = Weight(conv);
        nn.init.kaiming_normal_(w, a: 0, mode: mode == "fan_in" ? nn.init.FanInOut.FanIn : nn.init.FanInOut.FanOut, nonlinearity: nn.init.NonlinearityType.ReLU);
        Bias(conv)?.fill_(bias);
    }

    /// <summary>mmcv <c>caffe2_xavier_init</c>: kaiming uniform (a=1, fan_in, leaky_relu), bias filled.</summary>
    public static void Caffe2XavierInit(nn.Module layer, double bias = 0)
    {
        using var _ = no_grad();
        nn.init.kaiming_uniform_(Weight(layer), a: 1, mode: nn.init.FanInOut.FanIn, nonlinearity: nn.init.NonlinearityType.LeakyReLU);
        Bias(layer)?.fill_(bias);
    }

    /// <summary>mmcv <c>xavier_init(distribution='uniform')</c>, bias filled.</summary>
    public static void XavierUniformInit(nn.Module layer, double gain = 1, double bias = 0)
    {
        using var _ = no_grad();
        nn.init.xavier_uniform_(Weight(layer), gain);
        Bias(layer)?.fill_(bias);
    }

    /// <summary>mmcv <c>normal_init</c>.</summary>
    public static void NormalInit(nn.Module layer, double mean = 0, double std = 1, double bias = 0)
    {
        using var _ = no_grad();
        nn.init.normal_(Weight(layer), mean, std);
        Bias(layer)?.fill_(bias);
    }

    /// <summary>mmcv <c>constant_init</c>.</summary>
    public static void ConstantInit(nn.Module layer, double value, double bias = 0)
    {
        using var _ = no_grad();
        Weight(layer).fill_(value);
        Bias(layer)?.fill_(bias);
    }

    private static Tensor Weight(nn.Module m) =>
        m.named_parameters(recurse: false).FirstOrDefault(p => p.name == "weight").parameter
        ?? throw new ArgumentException($"{m.GetName()} has no weight parameter.");

    private static Tensor? Bias(nn.Module m) => m.named_parameters(recurse: false).FirstOrDefault(p => p.name == "bias").parameter;

    /// <summary>
    /// The module itself (named "") and then every module under it, as torch's <c>named_modules()</c> lists them; TorchSharp's
    /// <c>named_modules</c> leaves the module itself out.
    /// </summary>
    public static IEnumerable<(string Name, nn.Module Module)> SelfAndDescendants(nn.Module root)
    {
        yield return ("", root);
        foreach (var m in root.named_modules()) if (m.name.Length > 0) yield return m;
    }

    /// <summary>Sets requires_grad on every parameter of the module (and its children).</summary>
    public static void SetRequiresGrad(nn.Module module, bool requiresGrad)
    {
        foreach (var (_, p) in module.named_parameters())
            p.requires_grad = requiresGrad;
    }
}

/// <summary>The printed module tree of <c>detsharp print-model</c>.</summary>
public static class ModuleTree
{
    /// <summary>
    /// One line per module: indented attribute name, type, and its parameter counts (all / trainable), e.g.
    /// <c>  backbone: ResNet  params 23,508,032  trainable 23,282,688</c>; leaf layers show their parameter shapes.
    /// </summary>
    public static string Format(nn.Module root, int maxDepth = int.MaxValue)
    {
        var sb = new StringBuilder();
        Write(sb, root, TypeName(root), 0, maxDepth);
        var (total, trainable) = ModuleTools.CountParameters(root);
        sb.Append(System.Globalization.CultureInfo.InvariantCulture, $"Total params: {total:N0}\nTrainable params: {trainable:N0}\nNon-trainable params: {total - trainable:N0}\n");
        return sb.ToString();
    }

    private static string TypeName(nn.Module m)
    {
        string n = m.GetType().Name;
        int tick = n.IndexOf('`', StringComparison.Ordinal);
        return tick < 0 ? n : n[..tick];
    }

    private static void Write(StringBuilder sb, nn.Module m, string label, int depth, int maxDepth)
    {
        var (total, trainable) = ModuleTools.CountParameters(m);
        sb.Append(' ', depth * 2).Append(label);
        var children = m.named_children().ToList();
        if (children.Count == 0)
        {
            var own = m.named_parameters(recurse: false).Select(p => $"{p.name} {ModuleTools.FormatShape(p.parameter.shape)}").ToList();
            if (own.Count > 0) sb.Append("  (").Append(string.Join(", ", own)).Append(')');
        }
        if (total > 0)
            sb.Append(System.Globalization.CultureInfo.InvariantCulture, $"  params {total:N0}").Append(trainable == total ? "" : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"  trainable {trainable:N0}"));
        sb.Append('\n');
        if (depth >= maxDepth) return;
        foreach (var (name, child) in children)
            Write(sb, child, $"({name}): {TypeName(child)}", depth + 1, maxDepth);
    }
}
