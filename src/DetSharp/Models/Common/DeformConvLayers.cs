using DetSharp.Ops;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Common;

/// <summary>
/// mmcv's <c>DeformConv2dPack</c> (conv_cfg <c>type='DCN'</c>) and <c>ModulatedDeformConv2dPack</c> (<c>type='DCNv2'</c>):
/// a deformable convolution whose offsets (and DCNv2's sigmoid masks) come from a plain 3×3 convolution of the same
/// input, <c>conv_offset</c>, zero-initialised so that training starts from the regular grid. State-dict keys as
/// mmcv's: <c>weight</c> (and DCNv2's <c>bias</c>), <c>conv_offset.weight</c>, <c>conv_offset.bias</c>. The weight is
/// initialised U(−1/√n, 1/√n), n = in_channels·kh·kw, as mmcv's <c>reset_parameters</c>; DCNv2's bias 0.
/// </summary>
public sealed class DeformConv2dPack : nn.Module<Tensor, Tensor>
{
    /// <summary>Submodules are registered explicitly under mmcv's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private readonly TorchSharp.Modules.Parameter _weight;
    private readonly TorchSharp.Modules.Parameter? _bias;
    private readonly TorchSharp.Modules.Conv2d _convOffset;
    private readonly DeformConvGeometry _geometry;
    private readonly long _k;

    public DeformConv2dPack(bool modulated, long inChannels, long outChannels, long kernelSize, long stride = 1, long padding = 0,
        long dilation = 1, long groups = 1, long deformGroups = 1, bool bias = false)
        : base(modulated ? "ModulatedDeformConv2dPack" : nameof(DeformConv2dPack))
    {
        // mmcv's DeformConv2d has no bias (it asserts bias=False); ModulatedDeformConv2d has one unless told.
        if (bias && !modulated) throw new DetSharpException("DCN (DeformConv2dPack): bias=True is not supported by mmcv's DeformConv2d; use DCNv2 or bias=False.");
        if (inChannels % groups != 0 || outChannels % groups != 0)
            throw new DetSharpException($"{GetName()}: in_channels {inChannels} and out_channels {outChannels} must be divisible by groups {groups}.");
        if (inChannels % deformGroups != 0)
            throw new DetSharpException($"{GetName()}: in_channels {inChannels} must be divisible by deform_groups {deformGroups}.");
        Modulated = modulated;
        _k = kernelSize * kernelSize;
        _geometry = new DeformConvGeometry((stride, stride), (padding, padding), (dilation, dilation), groups, deformGroups);
        double stdv = 1.0 / Math.Sqrt(inChannels * _k);
        _weight = new TorchSharp.Modules.Parameter(empty(outChannels, inChannels / groups, kernelSize, kernelSize).uniform_(-stdv, stdv));
        register_parameter("weight", _weight);
        if (bias)
        {
            _bias = new TorchSharp.Modules.Parameter(zeros(outChannels));
            register_parameter("bias", _bias);
        }
        _convOffset = nn.Conv2d(inChannels, deformGroups * (modulated ? 3 : 2) * _k, kernelSize, stride: stride, padding: padding, dilation: dilation, bias: true);
        register_module("conv_offset", _convOffset);
        ModuleTools.ConstantInit(_convOffset, 0);
    }

    /// <summary>DCNv2 (offsets and masks) rather than DCN (offsets only).</summary>
    public bool Modulated { get; }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var o = _convOffset.forward(x);
        Tensor offset, mask;
        if (!Modulated) return DeformConv.Apply(x, o, null, _weight, null, _geometry).MoveToOuterDisposeScope();
        // mmcv: the first two thirds are the offsets, the last the mask logits.
        long n2 = 2 * _geometry.DeformGroups * _k;
        offset = o[.., ..(int)n2];
        mask = o[.., (int)n2..].sigmoid();
        return DeformConv.Apply(x, offset, mask, _weight, _bias, _geometry).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// mmcv's <c>DeformConv2d</c> (DCNv1) whose offsets the caller computes (VFNetHead's star-shaped offsets), rather
/// than a <c>conv_offset</c> of the input as <see cref="DeformConv2dPack"/>: <c>forward(x, offset)</c>, one
/// state-dict key <c>weight</c> (no bias, as mmcv's), initialised U(−1/√n, 1/√n), n = in_channels·kh·kw.
/// </summary>
public sealed class DeformConv2d : nn.Module<Tensor, Tensor, Tensor>
{
    /// <summary>Submodules are registered explicitly under mmcv's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private readonly TorchSharp.Modules.Parameter _weight;
    private readonly DeformConvGeometry _geometry;

    public DeformConv2d(long inChannels, long outChannels, long kernelSize, long stride = 1, long padding = 0, long dilation = 1,
        long groups = 1, long deformGroups = 1)
        : base(nameof(DeformConv2d))
    {
        if (inChannels % groups != 0 || outChannels % groups != 0)
            throw new DetSharpException($"DeformConv2d: in_channels {inChannels} and out_channels {outChannels} must be divisible by groups {groups}.");
        if (inChannels % deformGroups != 0)
            throw new DetSharpException($"DeformConv2d: in_channels {inChannels} must be divisible by deform_groups {deformGroups}.");
        _geometry = new DeformConvGeometry((stride, stride), (padding, padding), (dilation, dilation), groups, deformGroups);
        double stdv = 1.0 / Math.Sqrt(inChannels * kernelSize * kernelSize);
        _weight = new TorchSharp.Modules.Parameter(empty(outChannels, inChannels / groups, kernelSize, kernelSize).uniform_(-stdv, stdv));
        register_parameter("weight", _weight);
    }

    /// <param name="x">[N, C, H, W].</param>
    /// <param name="offset">[N, 2·deform_groups·kh·kw, Ho, Wo], mmcv's layout (Δy, Δx per tap).</param>
    public override Tensor forward(Tensor x, Tensor offset) => DeformConv.Apply(x, offset, null, _weight, null, _geometry);
}
