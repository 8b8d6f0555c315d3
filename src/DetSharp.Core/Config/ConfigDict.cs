using System.Collections;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace DetSharp.Config;

/// <summary>
/// An mmcv <c>ConfigDict</c>: an ordered mapping from string keys to config values
/// (<see cref="ConfigDict"/>, <see cref="ConfigList"/>, <see cref="ConfigTuple"/>, string, long, double, bool or null).
/// Lookups by dotted path report the full path and the config file when a key is missing.
/// </summary>
public sealed class ConfigDict : IEnumerable<KeyValuePair<string, object?>>
{
    private readonly OrderedDictionary<string, object?> _items = new(StringComparer.Ordinal);

    /// <summary>The dotted path of this dict inside its config ("" for the root), used in error messages.</summary>
    public string Path { get; internal set; } = "";

    /// <summary>The config file the tree was loaded from, used in error messages (null when built in code).</summary>
    public string? SourceFile { get; internal set; }

    public int Count => _items.Count;

    public IEnumerable<string> Keys => _items.Keys;

    public object? this[string key]
    {
        get => _items.TryGetValue(key, out var value) ? value : throw MissingKey(key);
        set => _items[key] = value;
    }

    public bool ContainsKey(string key) => _items.ContainsKey(key);

    public bool TryGetValue(string key, out object? value) => _items.TryGetValue(key, out value);

    public bool Remove(string key) => _items.Remove(key);

    public void Add(string key, object? value) => _items.Add(key, value);

    /// <summary>The key of the entry at <paramref name="index"/> in insertion order.</summary>
    public string KeyAt(int index) => _items.GetAt(index).Key;

    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => _items.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>Whether the dotted <paramref name="path"/> (numeric segments index lists) resolves to a value.</summary>
    public bool Has(string path) => TryResolve(path, out _, out _);

    /// <summary>The value at a dotted path, converted to <typeparamref name="T"/>.</summary>
    /// <exception cref="DetSharpException">The key is missing or the value has another type.</exception>
    public T Get<T>(string path)
    {
        if (!TryResolve(path, out var value, out var failure))
            throw new DetSharpException(failure!);
        return ConfigConvert.To<T>(value, FullPath(path), SourceFile);
    }

    /// <summary>The value at a dotted path, or <paramref name="fallback"/> when the key is absent.</summary>
    public T Get<T>(string path, T fallback)
    {
        if (!TryResolve(path, out var value, out _))
            return fallback;
        return ConfigConvert.To<T>(value, FullPath(path), SourceFile);
    }

    public bool TryGet<T>(string path, [MaybeNullWhen(false)] out T value)
    {
        if (!TryResolve(path, out var raw, out _))
        {
            value = default;
            return false;
        }
        value = ConfigConvert.To<T>(raw, FullPath(path), SourceFile)!;
        return true;
    }

    /// <summary>A deep copy: no value is shared with this dict.</summary>
    public ConfigDict Clone() => (ConfigDict)ConfigValue.DeepClone(this)!;

    internal string FullPath(string path) => Path.Length == 0 ? path : $"{Path}.{path}";

    private bool TryResolve(string path, out object? value, out string? failure)
    {
        object? current = this;
        var segments = path.Split('.');
        for (int i = 0; i < segments.Length; i++)
        {
            string segment = segments[i];
            string walked = string.Join('.', segments, 0, i);
            switch (current)
            {
                case ConfigDict dict when dict.TryGetValue(segment, out var next):
                    current = next;
                    break;
                case ConfigDict dict:
                    value = null;
                    failure = MissingKeyMessage(FullPath(string.Join('.', segments, 0, i + 1)), dict.Keys);
                    return false;
                case IList<object?> list when int.TryParse(segment, NumberStyles.None, CultureInfo.InvariantCulture, out int index):
                    if (index >= list.Count)
                    {
                        value = null;
                        failure = $"config key '{FullPath(path)}' not found{InFile}: '{FullPath(walked)}' has {list.Count} elements, index {index} is out of range.";
                        return false;
                    }
                    current = list[index];
                    break;
                default:
                    value = null;
                    failure = $"config key '{FullPath(path)}' not found{InFile}: '{FullPath(walked)}' is {ConfigValue.Describe(current)}, not a dict.";
                    return false;
            }
        }
        value = current;
        failure = null;
        return true;
    }

    private string InFile => SourceFile is null ? "" : $" in {SourceFile}";

    private DetSharpException MissingKey(string key) => new(MissingKeyMessage(FullPath(key), Keys));

    private string MissingKeyMessage(string fullPath, IEnumerable<string> available)
    {
        var keys = available.ToList();
        string have = keys.Count == 0 ? "is empty" : "has: " + string.Join(", ", keys);
        string? close = Suggest.Closest(fullPath[(fullPath.LastIndexOf('.') + 1)..], keys);
        string hint = close is null ? "" : $" Did you mean '{close}'?";
        int dot = fullPath.LastIndexOf('.');
        string parent = dot < 0 ? "the config" : $"'{fullPath[..dot]}'";
        return $"config key '{fullPath}' not found{InFile}; {parent} {have}.{hint}";
    }
}

/// <summary>A Python list in a config.</summary>
public sealed class ConfigList : List<object?>
{
    public ConfigList() { }

    public ConfigList(IEnumerable<object?> items) : base(items) { }
}

/// <summary>A Python tuple in a config: kept distinct from lists so dumps and <c>_base_</c> checks behave as mmcv.</summary>
public sealed class ConfigTuple : List<object?>
{
    public ConfigTuple() { }

    public ConfigTuple(IEnumerable<object?> items) : base(items) { }
}
