using DetSharp.Registry;

namespace DetSharp.Models;

/// <summary>
/// Registers every model component of this assembly (backbones, necks, heads, losses, detectors in
/// <see cref="Registries.Models"/>; anchor generators, coders, assigners, samplers in <see cref="Registries.TaskModules"/>)
/// under its MMDetection type name. Idempotent and thread-safe.
/// </summary>
public static class ModelRegistry
{
    private static readonly Lazy<bool> Done = new(() =>
    {
        Registries.Models.RegisterAssembly(typeof(ModelRegistry).Assembly);
        Registries.TaskModules.RegisterAssembly(typeof(ModelRegistry).Assembly);
        return true;
    });

    /// <summary>Makes sure the registrations happened (call before building from config).</summary>
    public static void EnsureRegistered() => _ = Done.Value;
}
