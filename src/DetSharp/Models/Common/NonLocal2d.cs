using DetSharp.Config;
using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Common;

/// <summary>
/// mmcv's <c>NonLocal2d</c> (abbreviation <c>nonlocal_block</c>): <c>x + conv_out(softmax-or-scaled(θ(x)·φ(x)) · g(x))</c>
/// with 1×1 <see cref="ConvModule"/>s <c>g</c>, <c>theta</c>, <c>phi</c> to <c>in_channels // reduction</c> channels and
/// <c>conv_out</c> back (with <c>norm_cfg</c>). Modes: 'embedded_gaussian' (softmax, scaled by 1/√inter with
/// <c>use_scale</c>), 'dot_product' (divided by the number of positions), 'gaussian' (θ and φ the input itself, no
/// theta/phi layers), 'concatenation' (<c>concat_project</c>, a bias-free conv + ReLU on [θ, φ]). <c>sub_sample</c> puts a
/// 2×2 max-pool after g and φ (keys <c>g.0.conv</c>, <c>phi.0.conv</c>). Init as mmcv: g, θ, φ normal(std), conv_out
/// (its norm with <c>norm_cfg</c>) zero with <c>zeros_init</c>, so the block starts as the identity.
/// </summary>
[Register(Registries.PluginLayersName, "NonLocal2d")]
public sealed class NonLocal2d : nn.Module<Tensor, Tensor>, IPluginLayer
{
    /// <summary>Submodules are registered explicitly under mmcv's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private enum Mode
    {
        EmbeddedGaussian,
        DotProduct,
        Gaussian,
        Concatenation,
    }

    private readonly nn.Module<Tensor, Tensor> _g, _convOut;
    private readonly nn.Module<Tensor, Tensor>? _theta, _phi, _concatProject;
    private readonly long _inChannels, _interChannels;
    private readonly bool _useScale, _subSample;
    private readonly Mode _mode;

    /// <param name="inChannels">Channels of the input.</param>
    /// <param name="subSample">Max-pool (2×2) the keys and values.</param>
    /// <param name="convCfg">The convs' <c>conv_cfg</c> (mmcv's default: Conv2d).</param>
    /// <param name="reduction">Inner channels = max(in_channels // reduction, 1).</param>
    /// <param name="useScale">'embedded_gaussian' only: divide the affinities by √inner channels.</param>
    /// <param name="normCfg">Norm after <c>conv_out</c> (none by default).</param>
    /// <param name="mode">'embedded_gaussian', 'dot_product', 'gaussian' or 'concatenation'.</param>
    /// <param name="std">The std of the normal init of g, θ, φ (mmcv's <c>init_weights</c> keyword).</param>
    /// <param name="zerosInit">Zero <c>conv_out</c> (or its norm) instead of normal(std) (mmcv's <c>init_weights</c> keyword).</param>
    public NonLocal2d(long inChannels, bool subSample = false, ConfigDict? convCfg = null, int reduction = 2, bool useScale = true,
        ConfigDict? normCfg = null, string mode = "embedded_gaussian", double std = 0.01, bool zerosInit = true)
        : base(nameof(NonLocal2d))
    {
        _mode = mode switch
        {
            "embedded_gaussian" => Mode.EmbeddedGaussian,
            "dot_product" => Mode.DotProduct,
            "gaussian" => Mode.Gaussian,
            "concatenation" => Mode.Concatenation,
            _ => throw new DetSharpException($"NonLocal2d: mode must be 'gaussian', 'concatenation', 'embedded_gaussian' or 'dot_product', got '{mode}'."),
        };
        if (reduction < 1) throw new DetSharpException($"NonLocal2d: reduction must be positive, got {reduction}.");
        _inChannels = inChannels;
        _interChannels = Math.Max(inChannels / reduction, 1);
        _useScale = useScale;
        _subSample = subSample;

        var g = Conv(inChannels, _interChannels, convCfg);
        var convOut = new ConvModule(_interChannels, inChannels, 1, normCfg: normCfg, withRelu: false, convCfg: convCfg);
        ConvModule? theta = null, phi = null;
        if (_mode != Mode.Gaussian)
        {
            theta = Conv(inChannels, _interChannels, convCfg);
            phi = Conv(inChannels, _interChannels, convCfg);
        }
        ConvModule? concatProject = _mode == Mode.Concatenation ? new ConvModule(_interChannels * 2, 1, 1, bias: false) : null;

        // mmcv's _NonLocalNd.init_weights, run before sub_sample wraps g and phi.
        foreach (var m in new[] { g, theta, phi }.OfType<ConvModule>()) ModuleTools.NormalInit(m.Conv, std: std);
        var outLayer = (nn.Module?)convOut.Norm ?? convOut.Conv;
        if (zerosInit) ModuleTools.ConstantInit(outLayer, 0);
        else ModuleTools.NormalInit(outLayer, std: std);

        // With sub_sample, g and phi become Sequential(conv, MaxPool2d(2)); in 'gaussian' mode phi is the max-pool alone.
        _g = subSample ? nn.Sequential(("0", g), ("1", nn.MaxPool2d(2))) : g;
        register_module("g", _g);
        _convOut = convOut;
        register_module("conv_out", _convOut);
        if (theta is not null)
        {
            _theta = theta;
            register_module("theta", _theta);
        }
        if (phi is not null) _phi = subSample ? nn.Sequential(("0", phi), ("1", nn.MaxPool2d(2))) : phi;
        else if (subSample) _phi = nn.MaxPool2d(2);
        if (_phi is not null) register_module("phi", _phi);
        if (concatProject is not null)
        {
            _concatProject = concatProject;
            register_module("concat_project", _concatProject);
        }
    }

    public string Abbreviation => "nonlocal_block";

    private static ConvModule Conv(long inChannels, long outChannels, ConfigDict? convCfg) =>
        new(inChannels, outChannels, 1, withRelu: false, convCfg: convCfg);

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long n = x.shape[0];
        var gx = _g.forward(x).view(n, _interChannels, -1).permute(0, 2, 1);
        Tensor thetaX, phiX;
        switch (_mode)
        {
            case Mode.Gaussian:
                thetaX = x.view(n, _inChannels, -1).permute(0, 2, 1);
                phiX = _subSample ? _phi!.forward(x).view(n, _inChannels, -1) : x.view(n, _inChannels, -1);
                break;
            case Mode.Concatenation:
                thetaX = _theta!.forward(x).view(n, _interChannels, -1, 1);
                phiX = _phi!.forward(x).view(n, _interChannels, 1, -1);
                break;
            default:
                thetaX = _theta!.forward(x).view(n, _interChannels, -1).permute(0, 2, 1);
                phiX = _phi!.forward(x).view(n, _interChannels, -1);
                break;
        }
        var pairwise = Pairwise(thetaX, phiX);
        var y = matmul(pairwise, gx).permute(0, 2, 1).contiguous().reshape(n, _interChannels, x.shape[2], x.shape[3]);
        return (x + _convOut.forward(y)).MoveToOuterDisposeScope();
    }

    private Tensor Pairwise(Tensor thetaX, Tensor phiX)
    {
        switch (_mode)
        {
            case Mode.Gaussian:
                return matmul(thetaX, phiX).softmax(-1);
            case Mode.EmbeddedGaussian:
                var weight = matmul(thetaX, phiX);
                if (_useScale) weight = weight / Math.Sqrt(thetaX.shape[^1]);
                return weight.softmax(-1);
            case Mode.DotProduct:
                var dot = matmul(thetaX, phiX);
                return dot / dot.shape[^1];
            default:
                long h = thetaX.shape[2], w = phiX.shape[3];
                var concat = cat([thetaX.repeat(1, 1, 1, w), phiX.repeat(1, 1, h, 1)], 1);
                var projected = _concatProject!.forward(concat);
                var pw = projected.view(projected.shape[0], projected.shape[2], projected.shape[3]);
                return pw / pw.shape[^1];
        }
    }
}
