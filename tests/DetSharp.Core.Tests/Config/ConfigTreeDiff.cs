using DetSharp.Config;

namespace DetSharp.Core.Tests.Config;

/// <summary>Lists the paths where two config trees differ, for readable assertion messages.</summary>
internal static class ConfigTreeDiff
{
    public static List<string> Diff(object? expected, object? actual, bool tuplesAsLists, string path = "")
    {
        var diffs = new List<string>();
        Walk(expected, actual, tuplesAsLists, path, diffs);
        return diffs;
    }

    /// <summary>The number of values (non-dict, non-list leaves) in a config tree: what <see cref="Diff"/> compares.</summary>
    public static int CountLeaves(object? tree) => tree switch
    {
        ConfigDict d => d.Sum(kv => CountLeaves(kv.Value)),
        List<object?> l => l.Sum(CountLeaves),
        _ => 1,
    };

    private static void Walk(object? e, object? a, bool tuplesAsLists, string path, List<string> diffs)
    {
        switch (e)
        {
            case ConfigDict de when a is ConfigDict da:
                foreach (var (key, value) in de)
                {
                    string p = path.Length == 0 ? key : $"{path}.{key}";
                    if (!da.TryGetValue(key, out var other)) diffs.Add($"{p}: missing (expected {ConfigDumper.FormatInline(value)})");
                    else Walk(value, other, tuplesAsLists, p, diffs);
                }
                foreach (var key in da.Keys)
                    if (!de.ContainsKey(key)) diffs.Add($"{(path.Length == 0 ? key : $"{path}.{key}")}: unexpected key");
                return;
            case List<object?> le when a is List<object?> la && (tuplesAsLists || le.GetType() == la.GetType()):
                if (le.Count != la.Count)
                {
                    diffs.Add($"{path}: {la.Count} elements, expected {le.Count}");
                    return;
                }
                for (int i = 0; i < le.Count; i++) Walk(le[i], la[i], tuplesAsLists, $"{path}.{i}", diffs);
                return;
            default:
                if (!ConfigValue.DeepEquals(e, a))
                    diffs.Add($"{path}: {ConfigDumper.FormatInline(a)} ({ConfigValue.TypeName(a)}), expected {ConfigDumper.FormatInline(e)} ({ConfigValue.TypeName(e)})");
                return;
        }
    }
}
