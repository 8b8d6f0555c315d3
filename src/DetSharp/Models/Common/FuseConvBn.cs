using System.Reflection;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DetSharp.Models.Common;

/// <summary>
/// mmcv's <c>fuse_conv_bn</c> (MMDetection's <c>tools/test.py --fuse-conv-bn</c>): every eval-mode BatchNorm that directly
/// follows a plain <c>Conv2d</c> among its module's children (registration order, as mmcv walks <c>named_children</c>) is
/// folded into that convolution — weight × γ/√(σ²+ε), bias (b − μ)·γ/√(σ²+ε) + β — and removed from the forward pass,
/// frozen BatchNorms included. The outputs stay equal up to float rounding and inference skips one pass over every
/// normalised feature map. For inference only: the fused model's state dict is not MMDetection's layout (convs gain a
/// <c>bias</c>, BatchNorms and <c>downsample.1</c> disappear), so checkpoints are saved from unfused models.
/// <para>
/// mmcv replaces the BatchNorm child with <c>nn.Identity</c>. DetSharp modules call their children through fields, so
/// the field of the owning module that holds the BatchNorm is pointed at an <c>Identity</c> as well; a <c>Sequential</c>
/// (a ResNet <c>downsample</c>, a deep stem) is rebuilt without its folded BatchNorms in the field that holds it. A pair
/// whose BatchNorm is held elsewhere (a list) stays unfolded.
/// </para>
/// </summary>
public static class FuseConvBn
{
    /// <summary>Fuses the pairs in <paramref name="model"/> (in place) and returns how many BatchNorms were folded.</summary>
    public static int Fuse(nn.Module model)
    {
        using var noGrad = no_grad();
        return FuseChildren(model);
    }

    private static int FuseChildren(nn.Module owner)
    {
        int folded = 0;
        Conv2d? lastConv = null;
        // A snapshot: replacing a child re-registers it.
        foreach (var (name, child) in owner.named_children().ToList())
        {
            if (child is BatchNorm bn && lastConv is not null && !bn.training)
            {
                var identity = nn.Identity();
                if (TryReplace(owner, name, bn, identity))
                {
                    Fold(lastConv, bn);
                    folded++;
                }
                else identity.Dispose();
                lastConv = null;
                continue;
            }
            lastConv = child as Conv2d;
            folded += child is Sequential sequential ? FuseSequential(owner, name, sequential) : FuseChildren(child);
        }
        return folded;
    }

    /// <summary>A Sequential's own conv + BN pairs: it is rebuilt without the folded BatchNorms, in its owner's field.</summary>
    private static int FuseSequential(nn.Module owner, string name, Sequential sequential)
    {
        var items = sequential.named_children().ToList();
        int folded = 0;
        foreach (var (_, item) in items)
            if (item is not (Conv2d or BatchNorm or Sequential)) folded += FuseChildren(item);
        var kept = new List<(string, nn.Module<Tensor, Tensor>)>();
        var pairs = new List<(Conv2d, BatchNorm)>();
        for (int i = 0; i < items.Count; i++)
        {
            var (itemName, item) = items[i];
            if (item is BatchNorm bn && !bn.training && i > 0 && items[i - 1].module is Conv2d conv)
            {
                pairs.Add((conv, bn));
                continue;
            }
            kept.Add((itemName, (nn.Module<Tensor, Tensor>)item));
        }
        if (pairs.Count == 0) return folded;
        var rebuilt = nn.Sequential(kept.ToArray());
        if (!TryReplace(owner, name, sequential, rebuilt))
        {
            rebuilt.Dispose();
            return folded;
        }
        foreach (var (conv, bn) in pairs) Fold(conv, bn);
        return folded + pairs.Count;
    }

    /// <summary>The BatchNorm's affine transform of its running statistics, folded into the conv's weight and bias.</summary>
    private static void Fold(Conv2d conv, BatchNorm bn)
    {
        using var scope = NewDisposeScope();
        var mean = bn.running_mean ?? throw new DetSharpException("fuse_conv_bn: a BatchNorm without running statistics (track_running_stats=False) cannot be folded.");
        var variance = bn.running_var!;
        var gamma = bn.weight is { } w ? w.detach() : ones_like(mean);
        var beta = bn.bias is { } b ? b.detach() : zeros_like(mean);
        var bias = conv.bias is { } cb ? cb.detach() : zeros_like(mean);
        var scale = gamma * (variance + bn.eps).rsqrt();
        var fusedWeight = conv.weight!.detach() * scale.reshape(-1, 1, 1, 1);
        var fusedBias = (bias - mean) * scale + beta;
        conv.weight = new Parameter(fusedWeight.MoveToOuterDisposeScope(), requires_grad: false);
        conv.bias = new Parameter(fusedBias.MoveToOuterDisposeScope(), requires_grad: false);
    }

    /// <summary>
    /// Points every field of <paramref name="owner"/> that holds <paramref name="old"/> at <paramref name="replacement"/>
    /// and registers it under <paramref name="name"/> instead; false (nothing changed) when no field holds it or one cannot
    /// take the replacement.
    /// </summary>
    private static bool TryReplace(nn.Module owner, string name, nn.Module old, nn.Module replacement)
    {
        var fields = new List<FieldInfo>();
        for (var type = owner.GetType(); type is not null && type != typeof(nn.Module); type = type.BaseType)
        {
            // TorchSharp's own modules keep their children in private lists: only DetSharp's modules are rewired.
            if (type.Assembly != typeof(FuseConvBn).Assembly) continue;
            foreach (var field in type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
                if (ReferenceEquals(field.GetValue(owner), old)) fields.Add(field);
        }
        if (fields.Count == 0 || fields.Any(f => !f.FieldType.IsInstanceOfType(replacement))) return false;
        foreach (var field in fields) field.SetValue(owner, replacement);
        owner.register_module(name, null!);
        owner.register_module(name, replacement);
        return true;
    }
}
