namespace DetSharp.Registry;

/// <summary>The registries of MMDetection 2.x, under its names. Backbones, necks, heads and losses all live in MODELS, as in 2.x.</summary>
public static class Registries
{
    public const string ModelsName = "MODELS";
    public const string DatasetsName = "DATASETS";
    public const string PipelinesName = "PIPELINES";
    public const string HooksName = "HOOKS";
    public const string OptimizersName = "OPTIMIZERS";
    public const string RunnersName = "RUNNERS";
    public const string TaskModulesName = "TASK_MODULES";
    public const string PluginLayersName = "PLUGIN_LAYERS";

    /// <summary>Every model built from a config passes the channel pre-flight first (<see cref="Config.ModelChannelCheck"/>).</summary>
    public static Registry Models { get; } = WithChecks(new Registry(ModelsName), Config.ModelChannelCheck.Check);

    public static Registry Datasets { get; } = new(DatasetsName);

    public static Registry Pipelines { get; } = new(PipelinesName);

    public static Registry Hooks { get; } = new(HooksName);

    public static Registry Optimizers { get; } = new(OptimizersName);

    public static Registry Runners { get; } = new(RunnersName);

    /// <summary>Assigners, samplers, box coders and prior generators (mmdet.core's registries in 2.x).</summary>
    public static Registry TaskModules { get; } = new(TaskModulesName);

    /// <summary>mmcv's PLUGIN_LAYERS: blocks inserted into other modules (ResNet's <c>plugins</c>), built by <c>build_plugin_layer</c>.</summary>
    public static Registry PluginLayers { get; } = new(PluginLayersName);

    public static IEnumerable<Registry> All => [Models, Datasets, Pipelines, Hooks, Optimizers, Runners, TaskModules, PluginLayers];

    private static Registry WithChecks(Registry registry, params Action<Config.ConfigDict>[] checks)
    {
        foreach (var check in checks) registry.AddCheck(check);
        return registry;
    }
}
