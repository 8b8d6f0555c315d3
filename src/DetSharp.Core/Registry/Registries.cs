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

    public static Registry Models { get; } = new(ModelsName);

    public static Registry Datasets { get; } = new(DatasetsName);

    public static Registry Pipelines { get; } = new(PipelinesName);

    public static Registry Hooks { get; } = new(HooksName);

    public static Registry Optimizers { get; } = new(OptimizersName);

    public static Registry Runners { get; } = new(RunnersName);

    /// <summary>Assigners, samplers, box coders and prior generators (mmdet.core's registries in 2.x).</summary>
    public static Registry TaskModules { get; } = new(TaskModulesName);

    public static IEnumerable<Registry> All => [Models, Datasets, Pipelines, Hooks, Optimizers, Runners, TaskModules];
}
