using DetSharp.Config;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Common;

/// <summary>
/// MMDetection's <c>NormedLinear</c> (the cls predictor of the Seesaw Loss configs): a linear layer on L2-normalised
/// inputs and weight rows, <c>linear(t·x / (‖x‖^power + eps), W / (‖W_row‖^power + eps), b)</c>, so that logits are
/// bounded cosine similarities scaled by the temperature (spelt <c>tempearture</c> in MMDetection's configs).
/// Parameters <c>weight</c> [out, in] and <c>bias</c> [out], initialised N(0, 0.01²) and 0.
/// </summary>
public sealed class NormedLinear : nn.Module<Tensor, Tensor>
{
    public NormedLinear(long inFeatures, long outFeatures, double tempearture = 20, double power = 1.0, double eps = 1e-6, bool bias = true)
        : base(nameof(NormedLinear))
    {
        Temperature = tempearture;
        Power = power;
        Eps = eps;
        register_parameter("weight", new TorchSharp.Modules.Parameter(empty(outFeatures, inFeatures)));
        if (bias) register_parameter("bias", new TorchSharp.Modules.Parameter(empty(outFeatures)));
        ModuleTools.NormalInit(this, 0, 0.01);
    }

    /// <summary>Builds a <c>cls_predictor_cfg</c> of type <c>NormedLinear</c>; its other keys as MMDetection's.</summary>
    public static NormedLinear FromConfig(ConfigDict cfg, long inFeatures, long outFeatures)
    {
        foreach (var key in cfg.Keys)
        {
            if (key is not ("type" or "tempearture" or "power" or "eps" or "bias"))
                throw new DetSharpException($"'{(cfg.Path.Length == 0 ? key : cfg.Path + "." + key)}': NormedLinear takes tempearture, power, eps and bias.");
        }
        return new NormedLinear(inFeatures, outFeatures, cfg.Get("tempearture", 20.0), cfg.Get("power", 1.0), cfg.Get("eps", 1e-6), cfg.Get("bias", true));
    }

    public double Temperature { get; }

    public double Power { get; }

    public double Eps { get; }

    /// <summary>Parameters are registered explicitly under MMDetection's names.</summary>
    protected override void RegisterComponents()
    {
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        // Looked up by name: moving the module to a device replaces the registered tensors.
        var weight = get_parameter("weight")!;
        var w = weight / (weight.norm(1, keepdim: true).pow(Power) + Eps);
        var xn = x / (x.norm(1, keepdim: true).pow(Power) + Eps) * Temperature;
        return nn.functional.linear(xn, w, get_parameter("bias")).MoveToOuterDisposeScope();
    }
}
