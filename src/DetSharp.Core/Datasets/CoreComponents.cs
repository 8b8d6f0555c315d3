using DetSharp.Registry;

namespace DetSharp.Datasets;

/// <summary>Registers this assembly's datasets and pipeline transforms (once) in <see cref="Registries"/>.</summary>
public static class CoreComponents
{
    private static readonly Lazy<bool> Registered = new(() =>
    {
        Registries.Datasets.RegisterAssembly(typeof(CoreComponents).Assembly);
        Registries.Pipelines.RegisterAssembly(typeof(CoreComponents).Assembly);
        foreach (var wrapper in new[] { "RepeatDataset", "ConcatDataset", "ClassBalancedDataset" })
            if (!Registries.Datasets.Contains(wrapper))
                Registries.Datasets.Register(wrapper, cfg => DatasetBuilder.Build(cfg));
        return true;
    });

    public static void EnsureRegistered() => _ = Registered.Value;
}
