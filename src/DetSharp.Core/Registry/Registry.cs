using System.Reflection;
using DetSharp.Config;

namespace DetSharp.Registry;

/// <summary>
/// mmcv's <c>Registry</c>: maps config <c>type</c> names to components and builds them from a <see cref="ConfigDict"/>.
/// A registered class is built through its public constructor: each parameter is read from the config key of the
/// same name in snake_case (<c>numClasses</c> ← <c>num_classes</c>). Unknown types, unknown keys and missing
/// required keys are reported by name with the config path and the closest known names.
/// </summary>
public sealed class Registry(string name)
{
    private readonly Dictionary<string, Func<ConfigDict, IReadOnlyDictionary<string, object?>?, object>> _factories = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Type> _types = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private readonly List<Action<ConfigDict>> _checks = [];

    public string Name { get; } = name;

    public IReadOnlyCollection<string> Names
    {
        get
        {
            lock (_lock) return _factories.Keys.ToList();
        }
    }

    public bool Contains(string typeName)
    {
        lock (_lock) return _factories.ContainsKey(typeName);
    }

    /// <summary>The registered class for a type name (null for factory registrations).</summary>
    public Type? TypeOf(string typeName)
    {
        lock (_lock) return _types.GetValueOrDefault(typeName);
    }

    /// <summary>Registers a class built through its constructor.</summary>
    public void Register(string typeName, Type type, bool force = false)
    {
        Add(typeName, (cfg, defaults) => Construct(type, typeName, cfg, defaults), force, type);
    }

    public void Register<T>(string? typeName = null, bool force = false) => Register(typeName ?? typeof(T).Name, typeof(T), force);

    /// <summary>Registers a factory that reads the config itself.</summary>
    public void Register(string typeName, Func<ConfigDict, object> factory, bool force = false) =>
        Add(typeName, (cfg, _) => factory(cfg), force, null);

    /// <summary>Registers every class of <paramref name="assembly"/> marked with <see cref="RegisterAttribute"/> for this registry.</summary>
    public void RegisterAssembly(Assembly assembly)
    {
        foreach (var type in assembly.GetTypes())
        {
            foreach (var attribute in type.GetCustomAttributes<RegisterAttribute>())
            {
                if (attribute.Registry != Name) continue;
                string typeName = attribute.Name ?? type.Name;
                lock (_lock)
                    if (_types.TryGetValue(typeName, out var existing) && existing == type) continue;
                Register(typeName, type);
            }
        }
    }

    private void Add(string typeName, Func<ConfigDict, IReadOnlyDictionary<string, object?>?, object> factory, bool force, Type? type)
    {
        lock (_lock)
        {
            if (!force && _factories.ContainsKey(typeName))
                throw new InvalidOperationException($"'{typeName}' is already registered in the {Name} registry.");
            _factories[typeName] = factory;
            if (type is null) _types.Remove(typeName);
            else _types[typeName] = type;
        }
    }

    /// <summary>
    /// Builds the component described by <paramref name="cfg"/> (which must have a <c>type</c> key).
    /// <paramref name="defaults"/> fills keys the config lacks (mmcv's <c>default_args</c>).
    /// </summary>
    public object Build(ConfigDict cfg, IReadOnlyDictionary<string, object?>? defaults = null)
    {
        string where = Where(cfg);
        if (!cfg.TryGetValue("type", out var typeValue))
            throw new DetSharpException($"{where}: the dict has no 'type' key, so the {Name} registry cannot tell what to build.");
        if (typeValue is not string typeName)
            throw new DetSharpException($"{where}: 'type' must be a string, got {ConfigValue.Describe(typeValue)}.");
        Func<ConfigDict, IReadOnlyDictionary<string, object?>?, object>? factory;
        lock (_lock) _factories.TryGetValue(typeName, out factory);
        if (factory is null)
        {
            var close = Suggest.Closest(typeName, Names, 3);
            string hint = close.Count > 0 ? $" Did you mean {string.Join(" or ", close.Select(c => $"'{c}'"))}?" : "";
            throw new DetSharpException($"{where}: '{typeName}' is not registered in the {Name} registry.{hint}");
        }
        foreach (var check in Checks()) check(cfg);
        return factory(cfg, defaults);
    }

    /// <summary>
    /// Adds a pre-flight check that every config dict passes before this registry builds it (e.g. that a detector's neck and
    /// heads agree on channels), so each way of building a model — train, test, infer, benchmark — runs it.
    /// </summary>
    public void AddCheck(Action<ConfigDict> check)
    {
        lock (_lock) _checks.Add(check);
    }

    private Action<ConfigDict>[] Checks()
    {
        lock (_lock) return [.. _checks];
    }

    public T Build<T>(ConfigDict cfg, IReadOnlyDictionary<string, object?>? defaults = null)
    {
        var built = Build(cfg, defaults);
        if (built is T typed) return typed;
        throw new DetSharpException($"{Where(cfg)}: '{cfg["type"]}' builds a {built.GetType().Name}, which is not a {typeof(T).Name} as this place requires.");
    }

    private static string Where(ConfigDict cfg)
    {
        string path = cfg.Path.Length == 0 ? "config dict" : $"'{cfg.Path}'";
        return cfg.SourceFile is null ? path : $"{cfg.SourceFile}: {path}";
    }

    private static ConstructorInfo ConstructorOf(Type type)
    {
        var constructors = type.GetConstructors(BindingFlags.Public | BindingFlags.Instance);
        if (constructors.Length == 0)
            throw new InvalidOperationException($"{type.Name} has no public constructor to build it from config.");
        return constructors.OrderByDescending(c => c.GetParameters().Length).First();
    }

    /// <summary>The config keys a constructor reads (those of <see cref="InheritedArgumentsAttribute"/> records included).</summary>
    private static void CollectKeys(ConstructorInfo constructor, Dictionary<string, ParameterInfo> byKey, ref ParameterInfo? extra)
    {
        foreach (var p in constructor.GetParameters())
        {
            if (p.GetCustomAttribute<ExtraArgumentsAttribute>() is not null) extra = p;
            else if (p.GetCustomAttribute<InheritedArgumentsAttribute>() is not null) CollectKeys(ConstructorOf(p.ParameterType), byKey, ref extra);
            else byKey[ConfigConvert.ToSnakeCase(p.Name!)] = p;
        }
    }

    private static object Construct(Type type, string typeName, ConfigDict cfg, IReadOnlyDictionary<string, object?>? defaults)
    {
        var constructor = ConstructorOf(type);
        var byKey = new Dictionary<string, ParameterInfo>(StringComparer.Ordinal);
        ParameterInfo? extra = null;
        CollectKeys(constructor, byKey, ref extra);

        string where = Where(cfg);
        var extras = new ConfigDict { Path = cfg.Path, SourceFile = cfg.SourceFile };
        foreach (var key in cfg.Keys)
        {
            if (key == "type" || byKey.ContainsKey(key)) continue;
            if (extra is not null)
            {
                extras[key] = cfg[key];
                continue;
            }
            var close = Suggest.Closest(key, byKey.Keys, 2);
            string hint = close.Count > 0 ? $" Did you mean {string.Join(" or ", close.Select(c => $"'{c}'"))}?" : "";
            throw new DetSharpException(
                $"{where}: {typeName} got an unexpected argument '{key}'.{hint} It accepts: {string.Join(", ", byKey.Keys)}.");
        }
        return Invoke(constructor, Arguments(constructor, extra, extras, typeName, cfg, defaults));
    }

    private static object?[] Arguments(ConstructorInfo constructor, ParameterInfo? extra, ConfigDict extras, string typeName, ConfigDict cfg,
        IReadOnlyDictionary<string, object?>? defaults)
    {
        string where = Where(cfg);
        var parameters = constructor.GetParameters();
        var args = new object?[parameters.Length];
        for (int i = 0; i < parameters.Length; i++)
        {
            var p = parameters[i];
            if (p == extra)
            {
                args[i] = extras;
                continue;
            }
            if (p.GetCustomAttribute<InheritedArgumentsAttribute>() is not null)
            {
                var inner = ConstructorOf(p.ParameterType);
                args[i] = Invoke(inner, Arguments(inner, extra, extras, typeName, cfg, defaults));
                continue;
            }
            string key = ConfigConvert.ToSnakeCase(p.Name!);
            string path = cfg.Path.Length == 0 ? key : $"{cfg.Path}.{key}";
            if (p.ParameterType.IsGenericType && p.ParameterType.GetGenericTypeDefinition() == typeof(ConfigOptional<>))
            {
                bool set = cfg.TryGetValue(key, out var given);
                var inner = p.ParameterType.GetGenericArguments()[0];
                args[i] = Activator.CreateInstance(p.ParameterType, set, set ? ConfigConvert.To(given, inner, path, cfg.SourceFile) : null);
                continue;
            }
            if (cfg.TryGetValue(key, out var value))
                args[i] = ConfigConvert.To(value, p.ParameterType, path, cfg.SourceFile);
            else if (defaults is not null && defaults.TryGetValue(key, out var fallback))
                args[i] = fallback is null || p.ParameterType.IsInstanceOfType(fallback) ? fallback : ConfigConvert.To(fallback, p.ParameterType, path, cfg.SourceFile);
            else if (p.HasDefaultValue)
                args[i] = p.DefaultValue;
            else
                throw new DetSharpException($"{where}: {typeName} is missing the required argument '{key}'.");
        }
        return args;
    }

    private static object Invoke(ConstructorInfo constructor, object?[] args)
    {
        try
        {
            return constructor.Invoke(args);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
            throw;
        }
    }
}
