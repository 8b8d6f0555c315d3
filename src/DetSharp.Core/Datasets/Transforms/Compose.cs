using DetSharp.Config;
using DetSharp.Registry;

namespace DetSharp.Datasets.Transforms;

/// <summary>MMDetection's <c>Compose</c>: runs transforms in order and stops at the first that drops the sample.</summary>
public sealed class Compose : IPipelineTransform
{
    public Compose(IEnumerable<IPipelineTransform> transforms) => Transforms = transforms.ToArray();

    public IReadOnlyList<IPipelineTransform> Transforms { get; }

    /// <summary>Builds each config dict from <see cref="Registries.Pipelines"/>.</summary>
    public static Compose FromConfig(IEnumerable<ConfigDict>? configs)
    {
        ComponentRegistration.EnsureRegistered();
        var list = new List<IPipelineTransform>();
        if (configs is not null)
            foreach (var cfg in configs) list.Add(Registries.Pipelines.Build<IPipelineTransform>(cfg));
        return new Compose(list);
    }

    public DetSample? Apply(DetSample sample, Random rng)
    {
        DetSample? current = sample;
        foreach (var t in Transforms)
        {
            current = t.Apply(current, rng);
            if (current is null) return null;
        }
        return current;
    }
}
