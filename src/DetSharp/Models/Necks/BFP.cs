using DetSharp.Config;
using DetSharp.Models.Common;
using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Necks;

/// <summary>
/// MMDetection's <c>BFP</c> (Balanced Feature Pyramid, Libra R-CNN): gathers all levels at <c>refine_level</c>'s size
/// (adaptive max pooling for finer levels, nearest resizing for the others), averages them, refines the mean
/// (<c>refine_type</c> 'conv': a 3×3 ConvModule with ReLU; 'non_local': mmcv's <see cref="NonLocal2d"/> with reduction 1
/// and no scaling; None: no refinement; key <c>refine</c>) and adds it back to every level resized the opposite way.
/// Init as MMDetection's ends up: the neck's Xavier <c>init_cfg</c> runs first, then each child's own
/// <c>init_weights</c> (ConvModule: Kaiming; NonLocal2d: normal(0.01), <c>conv_out</c> zero), which is what stays.
/// </summary>
[Register(Registries.ModelsName, "BFP")]
public sealed class BFP : nn.Module<Tensor[], Tensor[]>, Weights.IHasInitCfg
{
    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private readonly int _numLevels;
    private readonly int _refineLevel;
    private readonly nn.Module<Tensor, Tensor>? _refine;

    public BFP(int inChannels, int numLevels, int refineLevel = 2, string? refineType = null, ConfigDict? convCfg = null,
        ConfigDict? normCfg = null, object? initCfg = null)
        : base(nameof(BFP))
    {
        if (refineLevel < 0 || refineLevel >= numLevels)
            throw new DetSharpException($"BFP: refine_level ({refineLevel}) must be in [0, num_levels = {numLevels}).");
        _numLevels = numLevels;
        _refineLevel = refineLevel;
        InitCfg = initCfg;
        switch (refineType)
        {
            case null:
                break;
            case "conv":
                _refine = new ConvModule(inChannels, inChannels, 3, padding: 1, normCfg: normCfg, convCfg: convCfg);
                register_module("refine", _refine);
                break;
            case "non_local":
                _refine = new NonLocal2d(inChannels, convCfg: convCfg, reduction: 1, useScale: false, normCfg: normCfg);
                register_module("refine", _refine);
                break;
            default:
                throw new DetSharpException($"BFP: refine_type must be None, 'conv' or 'non_local', got '{refineType}'.");
        }
    }

    /// <summary>The <c>init_cfg</c> as given.</summary>
    public object? InitCfg { get; }

    public override Tensor[] forward(Tensor[] inputs)
    {
        if (inputs.Length != _numLevels)
            throw new ArgumentException($"BFP expects {_numLevels} input maps (num_levels), got {inputs.Length}.");
        using var scope = NewDisposeScope();
        var gatherSize = Size(inputs[_refineLevel]);
        Tensor sum = null!;
        for (int i = 0; i < _numLevels; i++)
        {
            var gathered = i < _refineLevel
                ? nn.functional.adaptive_max_pool2d(inputs[i], gatherSize)
                : nn.functional.interpolate(inputs[i], size: gatherSize, mode: InterpolationMode.Nearest);
            sum = i == 0 ? gathered : sum + gathered;
        }
        var bsf = sum / _numLevels;
        if (_refine is not null) bsf = _refine.forward(bsf);
        var outs = new Tensor[_numLevels];
        for (int i = 0; i < _numLevels; i++)
        {
            var size = Size(inputs[i]);
            var residual = i < _refineLevel
                ? nn.functional.interpolate(bsf, size: size, mode: InterpolationMode.Nearest)
                : nn.functional.adaptive_max_pool2d(bsf, size);
            outs[i] = (residual + inputs[i]).MoveToOuterDisposeScope();
        }
        return outs;
    }

    private static long[] Size(Tensor x) => [x.shape[2], x.shape[3]];
}
