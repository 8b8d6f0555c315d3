namespace DetSharp.Engine.Checkpoints;

/// <summary>A Python tuple read from or written to a pickle (a C# array would be ambiguous with a list).</summary>
public sealed record PyTuple(IReadOnlyList<object?> Items)
{
    public static PyTuple Of(params object?[] items) => new(items);

    public bool Equals(PyTuple? other) => other is not null && Items.SequenceEqual(other.Items);

    public override int GetHashCode() => Items.Count;
}

/// <summary>
/// A Python dict as read from a pickle: insertion-ordered, keys of any pickled type (str, int, tuple...).
/// <see cref="IsOrderedDict"/> tells <c>collections.OrderedDict</c> apart (how state dicts are saved).
/// </summary>
public sealed class PyDict : OrderedDictionary<object, object?>
{
    public PyDict() { }

    public PyDict(bool isOrderedDict) => IsOrderedDict = isOrderedDict;

    public bool IsOrderedDict { get; init; }

    /// <summary>The value under a string key, or null when absent.</summary>
    public object? GetOrNull(string key) => TryGetValue(key, out var value) ? value : null;
}

/// <summary>
/// An instance of a Python class the reader does not model (e.g. numpy scalars in old checkpoints' meta):
/// kept as its class name, constructor arguments and <c>__setstate__</c> state so nothing fails to load.
/// </summary>
public sealed record PyObject(string Module, string Name, PyTuple? Args, object? State)
{
    public override string ToString() => $"{Module}.{Name}";
}

/// <summary>A <c>GLOBAL</c> reference to a Python class or function (before it is called by REDUCE).</summary>
public sealed record PyGlobal(string Module, string Name);
