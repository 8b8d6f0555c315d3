using DetSharp.Config;
using DetSharp.Models.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Weights;

/// <summary>
/// mmcv's weight initializers for <c>init_cfg</c> entries other than 'Pretrained': <c>Constant</c> (<c>val</c>),
/// <c>Normal</c> (<c>mean</c>, <c>std</c>), <c>TruncNormal</c> (<c>mean</c>, <c>std</c>, <c>a</c>, <c>b</c>),
/// <c>Uniform</c> (<c>a</c>, <c>b</c>), <c>Xavier</c> (<c>gain</c>, <c>distribution</c>), <c>Kaiming</c> (<c>a</c>,
/// <c>mode</c>, <c>nonlinearity</c>, <c>distribution</c>) and <c>Caffe2Xavier</c>, each with <c>bias</c> or
/// <c>bias_prob</c> (bias = −log((1 − p) / p)), applied to the submodules whose class (or base class, e.g.
/// <c>_BatchNorm</c>, <c>_ConvNd</c>) is named in <c>layer</c>, and <c>override=dict(name=..., ...)</c> applied to the
/// named child as a whole module, as mmcv's <c>initialize</c> does.
/// </summary>
public static class WeightInitializers
{
    private static readonly Dictionary<string, string[]> Keys = new(StringComparer.Ordinal)
    {
        ["Constant"] = ["val"],
        ["Normal"] = ["mean", "std"],
        ["TruncNormal"] = ["mean", "std", "a", "b"],
        ["Uniform"] = ["a", "b"],
        ["Xavier"] = ["gain", "distribution"],
        ["Kaiming"] = ["a", "mode", "nonlinearity", "distribution"],
        ["Caffe2Xavier"] = [],
    };

    private static readonly string[] CommonKeys = ["type", "bias", "bias_prob", "layer", "override"];

    /// <summary>The initializer types besides 'Pretrained'.</summary>
    public static IReadOnlyCollection<string> Types => Keys.Keys;

    /// <summary>Applies one non-Pretrained <c>init_cfg</c> entry to <paramref name="module"/> (named <paramref name="where"/> in messages).</summary>
    public static void Apply(nn.Module module, ConfigDict cfg, string where)
    {
        string type = cfg.Get<string>("type");
        Check(cfg, type, where);
        var layers = Layers(cfg.Get<object?>("layer", null));
        using (no_grad())
            foreach (var (_, m) in ModuleTools.SelfAndDescendants(module))
                if (Matches(m, layers)) Init(m, cfg, type);
        foreach (var item in Items(cfg.Get<object?>("override", null)))
        {
            var over = item as ConfigDict ?? throw new DetSharpException($"{where}: init_cfg override must be a dict with a 'name', got {ConfigValue.Describe(item)}.");
            string name = over.Get<string?>("name", null) ?? throw new DetSharpException($"{where}: init_cfg override needs the 'name' of the child to initialise.");
            var child = module.named_children().FirstOrDefault(c => c.name == name).module
                        ?? throw new DetSharpException($"{where}: init_cfg override names '{name}', which is not a child of {module.GetType().Name} (children: {string.Join(", ", module.named_children().Select(c => c.name))}).");
            // mmcv: an override with only a name takes the outer entry's initializer; otherwise it must name its own type.
            var inner = over.Clone();
            inner.Remove("name");
            if (inner.Count == 0)
            {
                inner = cfg.Clone();
                inner.Remove("override");
            }
            else if (!inner.ContainsKey("type")) throw new DetSharpException($"{where}: init_cfg override '{name}' sets arguments but no 'type'.");
            inner.Remove("layer");
            string innerType = inner.Get<string>("type");
            Check(inner, innerType, $"{where}.{name}");
            using (no_grad())
                foreach (var (_, m) in ModuleTools.SelfAndDescendants(child))
                    Init(m, inner, innerType);
        }
    }

    private static void Check(ConfigDict cfg, string type, string where)
    {
        if (!Keys.TryGetValue(type, out var own))
            throw new DetSharpException($"{where}: init_cfg type '{type}' is not supported; use one of Pretrained, {string.Join(", ", Keys.Keys)}.");
        foreach (var key in cfg.Keys)
        {
            if (!CommonKeys.Contains(key) && !own.Contains(key))
                throw new DetSharpException($"{where}: init_cfg '{type}' got an unexpected argument '{key}'; it accepts {string.Join(", ", own.Concat(CommonKeys.Skip(1)))}.");
        }
    }

    private static IEnumerable<object?> Items(object? value) => value switch
    {
        null => [],
        ConfigDict d => [d],
        IEnumerable<object?> list => list,
        _ => [value],
    };

    private static HashSet<string> Layers(object? layer) =>
        Items(layer).Select(l => l as string ?? throw new DetSharpException($"init_cfg layer must be a class name or a list of them, got {ConfigValue.Describe(l)}.")).ToHashSet(StringComparer.Ordinal);

    /// <summary>mmcv matches the class name and its direct base classes' names (<c>_BatchNorm</c>, <c>_ConvNd</c>).</summary>
    private static bool Matches(nn.Module m, HashSet<string> layers)
    {
        if (layers.Count == 0) return false;
        string name = m.GetType().Name;
        if (layers.Contains(name)) return true;
        return name switch
        {
            "BatchNorm1d" or "BatchNorm2d" or "BatchNorm3d" => layers.Contains("_BatchNorm") || layers.Contains("_NormBase"),
            // torch's SyncBatchNorm (SyncBN) is a _BatchNorm; mmcv's (MMSyncBN) is a plain Module.
            "SyncBatchNorm" => m is Common.SyncBatchNorm { Stats: Common.SyncBatchNormStats.Count } && (layers.Contains("_BatchNorm") || layers.Contains("_NormBase")),
            "Conv1d" or "Conv2d" or "Conv3d" => layers.Contains("_ConvNd"),
            "ConvTranspose1d" or "ConvTranspose2d" or "ConvTranspose3d" => layers.Contains("_ConvTransposeNd"),
            _ => false,
        };
    }

    private static void Init(nn.Module m, ConfigDict cfg, string type)
    {
        var weight = m.named_parameters(recurse: false).FirstOrDefault(p => p.name == "weight").parameter;
        var bias = m.named_parameters(recurse: false).FirstOrDefault(p => p.name == "bias").parameter;
        if (weight is not null)
        {
            switch (type)
            {
                case "Constant": weight.fill_(cfg.Get<double>("val")); break;
                case "Normal": nn.init.normal_(weight, cfg.Get("mean", 0.0), cfg.Get("std", 1.0)); break;
                case "TruncNormal": nn.init.trunc_normal_(weight, cfg.Get("mean", 0.0), cfg.Get("std", 1.0), cfg.Get("a", -2.0), cfg.Get("b", 2.0)); break;
                case "Uniform": nn.init.uniform_(weight, cfg.Get("a", 0.0), cfg.Get("b", 1.0)); break;
                case "Xavier":
                    if (cfg.Get("distribution", "normal") == "uniform") nn.init.xavier_uniform_(weight, cfg.Get("gain", 1.0));
                    else nn.init.xavier_normal_(weight, cfg.Get("gain", 1.0));
                    break;
                case "Kaiming":
                    Kaiming(weight, cfg.Get("a", 0.0), cfg.Get("mode", "fan_out"), cfg.Get("nonlinearity", "relu"), cfg.Get("distribution", "normal"));
                    break;
                case "Caffe2Xavier":
                    Kaiming(weight, 1.0, "fan_in", "leaky_relu", "uniform");
                    break;
            }
        }
        if (bias is not null)
        {
            double b = cfg.Get<double?>("bias_prob", null) is { } p ? -Math.Log((1 - p) / p) : cfg.Get("bias", 0.0);
            bias.fill_(b);
        }
    }

    private static void Kaiming(Tensor weight, double a, string mode, string nonlinearity, string distribution)
    {
        var fan = mode == "fan_in" ? nn.init.FanInOut.FanIn : nn.init.FanInOut.FanOut;
        var nl = nonlinearity switch
        {
            "relu" => nn.init.NonlinearityType.ReLU,
            "leaky_relu" => nn.init.NonlinearityType.LeakyReLU,
            "linear" => nn.init.NonlinearityType.Linear,
            "tanh" => nn.init.NonlinearityType.Tanh,
            "sigmoid" => nn.init.NonlinearityType.Sigmoid,
            _ => throw new DetSharpException($"init_cfg Kaiming: nonlinearity '{nonlinearity}' is not supported."),
        };
        if (distribution == "uniform") nn.init.kaiming_uniform_(weight, a, fan, nl);
        else nn.init.kaiming_normal_(weight, a, fan, nl);
    }
}
