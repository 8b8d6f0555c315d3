using DetSharp.Config;
using DetSharp.Registry;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DetSharp.Engine.Optimizers;

/// <summary>One parameter group as mmcv's DefaultOptimizerConstructor makes it (null = the optimizer's default).</summary>
public sealed record ParamGroupSpec(IReadOnlyList<string> Names, IReadOnlyList<Parameter> Parameters, double? Lr, double? WeightDecay);

/// <summary>
/// mmcv's <c>DefaultOptimizerConstructor</c> + <c>build_optimizer</c>: <c>optimizer=dict(type='SGD', lr=0.02, momentum=0.9,
/// weight_decay=1e-4, paramwise_cfg=...)</c>. Without <c>paramwise_cfg</c> all parameters share one group; with it each
/// parameter gets its own group: <c>custom_keys</c> (the longest key contained in the parameter's name wins:
/// lr·lr_mult, wd·decay_mult), else <c>bias_lr_mult</c>/<c>bias_decay_mult</c> for biases (not of norm layers),
/// <c>norm_decay_mult</c> for norm layers, <c>dwconv_decay_mult</c> for depthwise convs. Frozen parameters keep the defaults.
/// The optimizer itself is built through the OPTIMIZERS registry (<see cref="TorchOptimizer"/>).
/// </summary>
public static class OptimizerBuilder
{
    public static OptimizerHelper Build(nn.Module model, ConfigDict cfg)
    {
        string where = cfg.Path.Length == 0 ? "optimizer" : cfg.Path;
        if (cfg.Get<string?>("constructor", null) is { } ctor && ctor != "DefaultOptimizerConstructor")
            throw new DetSharpException($"{where}.constructor '{ctor}' is not supported; only DefaultOptimizerConstructor is.");
        var specs = ParamGroups(model, cfg.Get<double>("lr"), cfg.Get<double?>("weight_decay", null), cfg.Get<ConfigDict?>("paramwise_cfg", null), where);
        // The constructor's keys are not the optimizer's (mmcv's DefaultOptimizerConstructor pops them the same way).
        var optimizerCfg = cfg.Clone();
        optimizerCfg.Remove("paramwise_cfg");
        optimizerCfg.Remove("constructor");
        ComponentRegistration.EnsureRegistered();
        return Registries.Optimizers.Build<TorchOptimizer>(optimizerCfg, new Dictionary<string, object?> { ["params"] = specs }).Create();
    }

    /// <summary>The parameter groups mmcv would build (see the class summary), in <c>named_parameters</c> order.</summary>
    public static IReadOnlyList<ParamGroupSpec> ParamGroups(nn.Module model, double baseLr, double? baseWd, ConfigDict? paramwise, string where = "optimizer")
    {
        if (paramwise is null)
        {
            var all = model.named_parameters().ToList();
            return [new ParamGroupSpec(all.Select(p => p.name).ToList(), all.Select(p => p.parameter).ToList(), null, null)];
        }
        var known = new[] { "bias_lr_mult", "bias_decay_mult", "norm_decay_mult", "dwconv_decay_mult", "custom_keys", "bypass_duplicate", "dcn_offset_lr_mult", "flat_decay_mult" };
        foreach (var key in paramwise.Keys)
            if (!known.Contains(key))
                throw new DetSharpException($"{where}.paramwise_cfg: unexpected key '{key}'; it accepts: {string.Join(", ", known)}.");
        var customKeys = paramwise.Get<ConfigDict?>("custom_keys", null) ?? new ConfigDict();
        if (baseWd is null)
        {
            foreach (var key in new[] { "bias_decay_mult", "norm_decay_mult", "dwconv_decay_mult" })
                if (paramwise.ContainsKey(key))
                    throw new DetSharpException($"{where}.paramwise_cfg.{key} needs {where}.weight_decay to be set.");
            foreach (var key in customKeys.Keys)
                if (CustomKey(customKeys, key, where).ContainsKey("decay_mult"))
                    throw new DetSharpException($"{where}.paramwise_cfg.custom_keys['{key}'].decay_mult needs {where}.weight_decay to be set.");
        }
        // Longest keys first; ties in alphabetical order (mmcv sorts alphabetically, then stably by length).
        var sortedKeys = customKeys.Keys.Order(StringComparer.Ordinal).OrderByDescending(k => k.Length).ToList();
        var settings = new Settings(
            paramwise.Get("bias_lr_mult", 1.0), paramwise.Get("bias_decay_mult", 1.0), paramwise.Get("norm_decay_mult", 1.0),
            paramwise.Get("dwconv_decay_mult", 1.0), paramwise.Get("bypass_duplicate", false), customKeys, sortedKeys);
        var groups = new List<ParamGroupSpec>();
        var seen = new HashSet<IntPtr>();
        AddParams(groups, model, "", baseLr, baseWd, settings, seen);
        return groups;
    }

    // Keys are parameter-name fragments with dots ('backbone.layer1'), so they are looked up directly, not as config paths.
    private static ConfigDict CustomKey(ConfigDict customKeys, string key, string where) =>
        customKeys[key] as ConfigDict ?? throw new DetSharpException($"{where}.paramwise_cfg.custom_keys['{key}'] must be a dict such as dict(lr_mult=0.1, decay_mult=1.0).");

    private sealed record Settings(double BiasLrMult, double BiasDecayMult, double NormDecayMult, double DwconvDecayMult,
        bool BypassDuplicate, ConfigDict CustomKeys, IReadOnlyList<string> SortedKeys);

    private static void AddParams(List<ParamGroupSpec> groups, nn.Module module, string prefix, double baseLr, double? baseWd, Settings s, HashSet<IntPtr> seen)
    {
        bool isNorm = module is NormBase or GroupNorm or LayerNorm or INormLayer;
        bool isDwconv = module is Conv2d conv && conv.in_channels == conv.groups;
        foreach (var (name, param) in module.named_parameters(recurse: false))
        {
            string fullName = prefix.Length == 0 ? name : $"{prefix}.{name}";
            if (!seen.Add(param.Handle))
            {
                if (s.BypassDuplicate) continue;
                throw new DetSharpException($"some parameters appear in more than one parameter group ({fullName}); set paramwise_cfg.bypass_duplicate=True to skip duplicates.");
            }
            if (!param.requires_grad)
            {
                groups.Add(new ParamGroupSpec([fullName], [param], null, null));
                continue;
            }
            double? lr = null, wd = null;
            bool isCustom = false;
            string matchName = $"{prefix}.{name}";
            foreach (var key in s.SortedKeys)
            {
                if (!matchName.Contains(key, StringComparison.Ordinal)) continue;
                isCustom = true;
                var custom = CustomKey(s.CustomKeys, key, "optimizer");
                lr = baseLr * custom.Get("lr_mult", 1.0);
                if (baseWd is { } w) wd = w * custom.Get("decay_mult", 1.0);
                break;
            }
            if (!isCustom)
            {
                if (name == "bias" && !isNorm) lr = baseLr * s.BiasLrMult;
                if (baseWd is { } w)
                {
                    if (isNorm) wd = w * s.NormDecayMult;
                    else if (isDwconv) wd = w * s.DwconvDecayMult;
                    else if (name == "bias") wd = w * s.BiasDecayMult;
                }
            }
            groups.Add(new ParamGroupSpec([fullName], [param], lr, wd));
        }
        foreach (var (childName, child) in module.named_children())
            AddParams(groups, child, prefix.Length == 0 ? childName : $"{prefix}.{childName}", baseLr, baseWd, s, seen);
    }

    /// <summary>
    /// <c>auto_scale_lr</c>: when enabled, lr ← lr · (gpus · samples_per_gpu) / base_batch_size (MMDetection's
    /// <c>auto_scale_lr</c>). Returns the scaled lr and the log message, or null when disabled.
    /// </summary>
    public static (double Lr, string Message)? AutoScaleLr(double lr, ConfigDict? autoScale, bool forced, int numGpus, int samplesPerGpu)
    {
        if (autoScale is null)
            return forced ? throw new DetSharpException("--auto-scale-lr needs auto_scale_lr=dict(base_batch_size=...) in the config.") : null;
        bool enable = autoScale.Get("enable", false) || forced;
        if (!enable) return null;
        int baseBatch = autoScale.Get<int>("base_batch_size");
        int batch = numGpus * samplesPerGpu;
        double scaled = lr * batch / baseBatch;
        return (scaled, $"LR has been automatically scaled from {lr} to {scaled} (batch size {batch} = {numGpus} GPU(s) x {samplesPerGpu} samples per GPU, base_batch_size {baseBatch})");
    }
}
