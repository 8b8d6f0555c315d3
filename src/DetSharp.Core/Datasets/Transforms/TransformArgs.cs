using DetSharp.Config;

namespace DetSharp.Datasets.Transforms;

/// <summary>Reading the loosely typed transform arguments of MMDetection configs, and numpy-like random draws.</summary>
internal static class TransformArgs
{
    public static double Number(object? value, string what) => value switch
    {
        long l => l,
        double d => d,
        int i => i,
        float f => f,
        _ => throw new DetSharpException($"{what} must be a number, got {ConfigValue.Describe(value)}."),
    };

    /// <summary>A scale tuple (a, b) or a list of them.</summary>
    public static List<(int A, int B)> Scales(object? value, string what)
    {
        var list = new List<(int, int)>();
        switch (value)
        {
            case null:
                return list;
            case ConfigList items:
                foreach (var item in items) list.Add(Pair(item, what));
                return list;
            case ConfigTuple tuple when tuple.Count == 2 && tuple[0] is long or double:
                list.Add(Pair(tuple, what));
                return list;
            case ConfigTuple tuple:
                foreach (var item in tuple) list.Add(Pair(item, what));
                return list;
            default:
                throw new DetSharpException($"{what} must be a (w, h) tuple or a list of them, got {ConfigValue.Describe(value)}.");
        }
    }

    public static (int A, int B) Pair(object? value, string what)
    {
        if (value is List<object?> { Count: 2 } p) return ((int)Number(p[0], what), (int)Number(p[1], what));
        throw new DetSharpException($"{what} must be a (w, h) tuple of two numbers, got {ConfigValue.Describe(value)}.");
    }

    /// <summary>A fill value: a number broadcast to 3 channels, or a tuple of 3.</summary>
    public static double[] Fill(object? value, string what)
    {
        if (value is List<object?> items)
        {
            if (items.Count != 3) throw new DetSharpException($"{what} must be a number or a tuple of 3 numbers, got {items.Count} values.");
            return [Number(items[0], what), Number(items[1], what), Number(items[2], what)];
        }
        double v = Number(value, what);
        return [v, v, v];
    }

    public static List<string> Strings(object? value, string what) => value switch
    {
        null => [],
        string s => [s],
        List<object?> items => items.Select(i => i as string ?? throw new DetSharpException($"{what} must hold strings.")).ToList(),
        _ => throw new DetSharpException($"{what} must be a string or a list of strings, got {ConfigValue.Describe(value)}."),
    };

    /// <summary>numpy <c>uniform(a, b)</c>.</summary>
    public static double Uniform(Random rng, double a, double b) => a + (b - a) * rng.NextDouble();

    /// <summary>MMDetection's <c>random_negative</c>: −value with probability p.</summary>
    public static double RandomNegative(double value, double p, Random rng) => rng.NextDouble() < p ? -value : value;
}
