using DetSharp.Config;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Common;

/// <summary>
/// MMDetection's <c>NormedConv2d</c> (the mask predictor of the Seesaw Loss configs, <c>predictor_cfg</c>): a
/// convolution of the L2-normalised input, scaled by the temperature (spelt <c>tempearture</c> in MMDetection's configs),
/// with weights normalised over the input channels at each kernel position, <c>W / (‖W[o, :, i, j]‖^power + eps)</c>,
/// or over the whole kernel when <c>norm_over_kernel</c>. Keys <c>weight</c>, <c>bias</c>; initialised as torch's
/// Conv2d (it is one in mmdet, so Conv2d initialisers apply to it).
/// </summary>
public sealed class NormedConv2d : nn.Module<Tensor, Tensor>
{
    /// <summary>Parameters are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private readonly long _stride, _padding, _dilation, _groups;

    public NormedConv2d(long inChannels, long outChannels, long kernelSize, long stride = 1, long padding = 0, long dilation = 1,
        long groups = 1, bool bias = true, double tempearture = 20, double power = 1.0, double eps = 1e-6, bool normOverKernel = false)
        : base(nameof(NormedConv2d))
    {
        (_stride, _padding, _dilation, _groups) = (stride, padding, dilation, groups);
        (Temperature, Power, Eps, NormOverKernel) = (tempearture, power, eps, normOverKernel);
        using var template = nn.Conv2d(inChannels, outChannels, kernelSize, groups: groups, bias: bias);
        register_parameter("weight", new TorchSharp.Modules.Parameter(template.weight!.detach().clone()));
        if (bias) register_parameter("bias", new TorchSharp.Modules.Parameter(template.bias!.detach().clone()));
    }

    /// <summary>Builds a conv_cfg / predictor_cfg of type <c>NormedConv2d</c>; its other keys as MMDetection's.</summary>
    public static NormedConv2d FromConfig(ConfigDict cfg, long inChannels, long outChannels, long kernelSize, long stride, long padding,
        long dilation, long groups, bool bias)
    {
        foreach (var key in cfg.Keys)
        {
            if (key is not ("type" or "tempearture" or "power" or "eps" or "norm_over_kernel"))
                throw new DetSharpException($"'{(cfg.Path.Length == 0 ? key : cfg.Path + "." + key)}': NormedConv2d takes tempearture, power, eps and norm_over_kernel.");
        }
        return new NormedConv2d(inChannels, outChannels, kernelSize, stride, padding, dilation, groups, bias, cfg.Get("tempearture", 20.0),
            cfg.Get("power", 1.0), cfg.Get("eps", 1e-6), cfg.Get("norm_over_kernel", false));
    }

    public double Temperature { get; }

    public double Power { get; }

    public double Eps { get; }

    public bool NormOverKernel { get; }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        // Looked up by name: moving the module to a device replaces the registered tensors.
        var weight = get_parameter("weight")!;
        var norm = NormOverKernel
            ? weight.view(weight.shape[0], -1).norm(1, keepdim: true).pow(Power).view(-1, 1, 1, 1)
            : weight.norm(1, keepdim: true).pow(Power);
        var w = weight / (norm + Eps);
        var xn = x / (x.norm(1, keepdim: true).pow(Power) + Eps) * Temperature;
        return nn.functional.conv2d(xn, w, get_parameter("bias"), strides: [_stride, _stride], padding: [_padding, _padding],
            dilation: [_dilation, _dilation], groups: _groups).MoveToOuterDisposeScope();
    }
}
