namespace DetSharp.Registry;

/// <summary>
/// Registers a class under an MMDetection type name in a named registry, e.g.
/// <c>[Register(Registries.Models, "ResNet")]</c>. Picked up by <see cref="Registry.RegisterAssembly"/>.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class RegisterAttribute(string registry, string? name = null) : Attribute
{
    public string Registry { get; } = registry;

    /// <summary>The config <c>type</c> name; the class name when omitted.</summary>
    public string? Name { get; } = name;
}

/// <summary>
/// Marks the constructor parameter that receives every config key the constructor does not name
/// (Python's <c>**kwargs</c>), as a <see cref="Config.ConfigDict"/>.
/// </summary>
[AttributeUsage(AttributeTargets.Parameter)]
public sealed class ExtraArgumentsAttribute : Attribute;

/// <summary>
/// Marks a constructor parameter whose type's own constructor parameters are read from the same config dict, as if
/// they were the outer constructor's. A component that takes another's arguments plus a few of its own (AugFPN takes
/// every FPN argument) declares them once, in an arguments record, instead of repeating the list.
/// </summary>
[AttributeUsage(AttributeTargets.Parameter)]
public sealed class InheritedArgumentsAttribute : Attribute;

/// <summary>
/// A constructor argument that tells "not in the config" apart from an explicit <c>None</c>: for arguments whose
/// MMDetection default is not None (FCOSHead's <c>norm_cfg</c> defaults to GN; <c>norm_cfg=None</c> means no norm).
/// The registry fills it with <see cref="IsSet"/> true when the key is present.
/// </summary>
public readonly record struct ConfigOptional<T>(bool IsSet, T? Value)
{
    /// <summary>The configured value, or <paramref name="fallback"/> when the config does not set the key.</summary>
    public T? Or(T? fallback) => IsSet ? Value : fallback;
}
