namespace DetSharp.Config;

/// <summary>Operations on config values: deep copy, structural equality, and names for messages.</summary>
public static class ConfigValue
{
    public static object? DeepClone(object? value)
    {
        switch (value)
        {
            case ConfigDict dict:
                var copy = new ConfigDict { Path = dict.Path, SourceFile = dict.SourceFile };
                foreach (var (key, item) in dict)
                    copy.Add(key, DeepClone(item));
                return copy;
            case ConfigTuple tuple:
                var tupleCopy = new ConfigTuple();
                foreach (var item in tuple) tupleCopy.Add(DeepClone(item));
                return tupleCopy;
            case ConfigList list:
                var listCopy = new ConfigList();
                foreach (var item in list) listCopy.Add(DeepClone(item));
                return listCopy;
            default:
                return value;
        }
    }

    /// <summary>
    /// Structural equality with exact types: <c>1</c> (long) differs from <c>1.0</c> (double), a tuple from a list,
    /// and dict key order is ignored (as Python's dict equality).
    /// </summary>
    public static bool DeepEquals(object? a, object? b)
    {
        switch (a)
        {
            case null:
                return b is null;
            case ConfigDict da:
                if (b is not ConfigDict db || da.Count != db.Count) return false;
                foreach (var (key, value) in da)
                    if (!db.TryGetValue(key, out var other) || !DeepEquals(value, other)) return false;
                return true;
            case ConfigTuple ta:
                return b is ConfigTuple tb && SequenceEquals(ta, tb);
            case ConfigList la:
                return b is ConfigList lb && SequenceEquals(la, lb);
            case double x:
                return b is double y && (x.Equals(y));
            default:
                return a.GetType() == b?.GetType() && a.Equals(b);
        }
    }

    private static bool SequenceEquals(List<object?> a, List<object?> b)
    {
        if (a.Count != b.Count) return false;
        for (int i = 0; i < a.Count; i++)
            if (!DeepEquals(a[i], b[i])) return false;
        return true;
    }

    /// <summary>Python's name for the value's type, for messages ("a dict", "the string 'x'").</summary>
    public static string Describe(object? value) => value switch
    {
        null => "None",
        ConfigDict => "a dict",
        ConfigTuple => "a tuple",
        ConfigList => "a list",
        string s => $"the string '{s}'",
        bool b => b ? "True" : "False",
        long l => $"the int {l}",
        double d => $"the float {PyText.Float(d)}",
        _ => value.GetType().Name,
    };

    /// <summary>Python's type name of a value.</summary>
    public static string TypeName(object? value) => value switch
    {
        null => "NoneType",
        ConfigDict => "dict",
        ConfigTuple => "tuple",
        ConfigList => "list",
        string => "str",
        bool => "bool",
        long => "int",
        double => "float",
        _ => value.GetType().Name,
    };
}
