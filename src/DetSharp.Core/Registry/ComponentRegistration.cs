using System.Reflection;
using DetSharp.Datasets;

namespace DetSharp.Registry;

/// <summary>
/// Marks an assembly whose <see cref="RegisterAttribute"/> classes <see cref="ComponentRegistration"/> registers (DetSharp.Core
/// and DetSharp carry it; a plugin assembly adds it to have its components found, as MMDetection's <c>custom_imports</c> do).
/// </summary>
[AttributeUsage(AttributeTargets.Assembly)]
public sealed class ComponentAssemblyAttribute : Attribute;

/// <summary>
/// The one entry point that fills MMDetection's registries (<see cref="Registries"/>): every <c>[Register]</c> class of every
/// loaded assembly marked <see cref="ComponentAssemblyAttribute"/> (in Python, importing a module registers its classes;
/// here loading the assembly is the import), plus the dataset wrappers, which <see cref="DatasetBuilder"/> builds itself.
/// Call it before building from a config; it is idempotent, thread-safe and cheap when nothing new was loaded.
/// </summary>
public static class ComponentRegistration
{
    private static readonly Lock Gate = new();
    private static readonly HashSet<Assembly> Done = [];
    private static int _seenAssemblies;

    public static void EnsureRegistered()
    {
        var loaded = AppDomain.CurrentDomain.GetAssemblies();
        lock (Gate)
        {
            if (loaded.Length == _seenAssemblies) return;
            foreach (var assembly in loaded.Prepend(typeof(ComponentRegistration).Assembly))
            {
                if (Done.Contains(assembly) || assembly.IsDynamic || assembly.GetCustomAttribute<ComponentAssemblyAttribute>() is null) continue;
                foreach (var registry in Registries.All) registry.RegisterAssembly(assembly);
                Done.Add(assembly);
            }
            foreach (var wrapper in new[] { "RepeatDataset", "ConcatDataset", "ClassBalancedDataset", "MultiImageMixDataset" })
                if (!Registries.Datasets.Contains(wrapper))
                    Registries.Datasets.Register(wrapper, cfg => DatasetBuilder.Build(cfg));
            _seenAssemblies = loaded.Length;
        }
    }
}
