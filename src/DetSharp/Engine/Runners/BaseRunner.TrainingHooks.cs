using DetSharp.Config;
using DetSharp.Engine.Hooks;
using DetSharp.Registry;

namespace DetSharp.Engine.Runners;

/// <summary>mmcv's <c>BaseRunner.register_training_hooks</c>: the config's hooks, each built from the HOOKS registry.</summary>
public abstract partial class BaseRunner
{
    /// <summary>
    /// Registers the default training hooks in mmcv's order and priorities: LR updater (<c>lr_config</c>, VERY_HIGH),
    /// optimizer (<c>optimizer_config</c>, ABOVE_NORMAL), checkpoint (<c>checkpoint_config</c>, NORMAL), iteration timer
    /// (LOW), loggers (<c>log_config.hooks</c>, VERY_LOW) and <c>custom_hooks</c> (their <c>priority</c>, else NORMAL).
    /// A dict without <c>type</c> gets mmcv's default type. Unlike mmcv, a missing <c>optimizer_config</c> still steps the
    /// optimizer (a plain <c>OptimizerHook</c>). Under <see cref="IterBasedRunner"/> the lr, checkpoint and logger hooks count
    /// iterations unless their config says <c>by_epoch</c>.
    /// </summary>
    public void RegisterTrainingHooks(ConfigDict? lrConfig, ConfigDict? optimizerConfig = null, ConfigDict? checkpointConfig = null,
        ConfigDict? logConfig = null, IReadOnlyList<ConfigDict>? customHooksConfig = null)
    {
        RegisterLrHook(lrConfig);
        RegisterOptimizerHook(optimizerConfig);
        RegisterCheckpointHook(checkpointConfig);
        RegisterHook(BuildHook(new ConfigDict { ["type"] = "IterTimerHook" }), HookPriority.Low);
        RegisterLoggerHooks(logConfig);
        RegisterCustomHooks(customHooksConfig);
    }

    /// <summary><c>lr_config=dict(policy='step', ...)</c> → the <c>StepLrUpdaterHook</c> of the HOOKS registry (policy title-cased when lower case).</summary>
    public void RegisterLrHook(ConfigDict? lrConfig)
    {
        if (lrConfig is null) return;
        var cfg = lrConfig.Clone();
        string where = cfg.Path.Length == 0 ? "lr_config" : cfg.Path;
        if (!cfg.TryGetValue("policy", out var value) || value is not string { Length: > 0 } policy)
            throw new DetSharpException($"{where} needs a 'policy' string (step, CosineAnnealing, poly, fixed, YOLOX).");
        cfg.Remove("policy");
        if (string.Equals(policy, policy.ToLowerInvariant(), StringComparison.Ordinal)) policy = char.ToUpperInvariant(policy[0]) + policy[1..];
        cfg["type"] = policy + "LrUpdaterHook";
        if (!ByEpoch && !cfg.ContainsKey("by_epoch")) cfg["by_epoch"] = false;
        RegisterHook(BuildHook(cfg), HookPriority.VeryHigh);
    }

    public void RegisterOptimizerHook(ConfigDict? optimizerConfig) =>
        RegisterHook(BuildHook(WithType(optimizerConfig ?? new ConfigDict(), "OptimizerHook")), HookPriority.AboveNormal);

    /// <summary><c>checkpoint_config</c>; MMDetection's train API puts its <c>meta</c> (version, CLASSES) there.</summary>
    public void RegisterCheckpointHook(ConfigDict? checkpointConfig)
    {
        if (checkpointConfig is null) return;
        RegisterHook(BuildHook(WithType(checkpointConfig, "CheckpointHook"), ByEpochDefault()), HookPriority.Normal);
    }

    /// <summary><c>log_config=dict(interval=50, hooks=[dict(type='TextLoggerHook'), ...])</c>: each hook gets the interval.</summary>
    public void RegisterLoggerHooks(ConfigDict? logConfig)
    {
        if (logConfig is null) return;
        long interval = logConfig.Get("interval", 10L);
        foreach (var hookCfg in logConfig.Get<List<ConfigDict>?>("hooks", null) ?? [])
        {
            var defaults = ByEpochDefault() ?? [];
            defaults["interval"] = interval;
            RegisterHook(BuildHook(hookCfg, defaults), HookPriority.VeryLow);
        }
    }

    /// <summary><c>custom_hooks=[dict(type='NumClassCheckHook', priority='VERY_LOW'), ...]</c>.</summary>
    public void RegisterCustomHooks(IReadOnlyList<ConfigDict>? customHooksConfig)
    {
        foreach (var hookCfg in customHooksConfig ?? [])
        {
            var copy = hookCfg.Clone();
            HookPriority? priority = null;
            if (copy.Remove("priority") && hookCfg["priority"] is { } p)
                priority = p is long n ? (HookPriority)n : Enum.Parse<HookPriority>(((string)p).Replace("_", ""), ignoreCase: true);
            RegisterHook(BuildHook(copy), priority ?? HookPriority.Normal);
        }
    }

    private static Hook BuildHook(ConfigDict cfg, Dictionary<string, object?>? defaults = null)
    {
        ComponentRegistration.EnsureRegistered();
        return Registries.Hooks.Build<Hook>(cfg, defaults);
    }

    private static ConfigDict WithType(ConfigDict cfg, string type)
    {
        var copy = cfg.Clone();
        if (!copy.ContainsKey("type")) copy["type"] = type;
        return copy;
    }

    /// <summary>mmcv's IterBasedRunner sets <c>by_epoch=False</c> where the config does not say.</summary>
    private Dictionary<string, object?>? ByEpochDefault() => ByEpoch ? null : new() { ["by_epoch"] = false };
}
