using System.Globalization;

namespace DetSharp.Config;

/// <summary>Python's arithmetic on config values: numbers, string/list/tuple concatenation and repetition.</summary>
internal static class Arithmetic
{
    public static object? Unary(string op, object? operand, PyToken at, PyConfigParser parser) => (op, operand) switch
    {
        ("-", long l) => checked(-l),
        ("-", double d) => -d,
        ("-", bool b) => b ? -1L : 0L,
        ("+", long or double) => operand,
        ("+", bool b) => b ? 1L : 0L,
        _ => throw parser.Error(at, $"bad operand for unary {op}: {ConfigValue.Describe(operand)}"),
    };

    public static object? Binary(string op, object? left, object? right, PyToken at, PyConfigParser parser)
    {
        try
        {
            if (IsNumber(left) && IsNumber(right))
                return Numbers(op, left!, right!, at, parser);
            // Concatenation and repetition are where a few characters build a huge value: the result's size is counted
            // against the file's budget before anything is allocated.
            switch (op, left, right)
            {
                case ("+", string a, string b):
                    parser.Spend((long)a.Length + b.Length, at);
                    return a + b;
                case ("+", ConfigTuple a, ConfigTuple b):
                    parser.Spend(ConfigBudget.SizeOf(a) + ConfigBudget.SizeOf(b), at);
                    return new ConfigTuple(Concat(a, b));
                case ("+", ConfigList a, ConfigList b):
                    parser.Spend(ConfigBudget.SizeOf(a) + ConfigBudget.SizeOf(b), at);
                    return new ConfigList(Concat(a, b));
                case ("*", string s, long n): return Repeat(s, n, at, parser);
                case ("*", long n, string s): return Repeat(s, n, at, parser);
                case ("*", ConfigList l, long n): return new ConfigList(RepeatItems(l, n, at, parser));
                case ("*", long n, ConfigList l): return new ConfigList(RepeatItems(l, n, at, parser));
                case ("*", ConfigTuple t, long n): return new ConfigTuple(RepeatItems(t, n, at, parser));
                case ("*", long n, ConfigTuple t): return new ConfigTuple(RepeatItems(t, n, at, parser));
                case ("%", string, _):
                    throw parser.Error(at, "'%' string formatting is not supported in configs; build the string with '+'");
            }
        }
        catch (OverflowException)
        {
            throw parser.Error(at, "integer overflow in config arithmetic");
        }
        throw parser.Error(at,
            $"unsupported operand types for {op}: '{ConfigValue.TypeName(left)}' and '{ConfigValue.TypeName(right)}'" +
            (op == "+" && (left is string || right is string) ? " (convert numbers to strings by writing them as strings)" : ""));
    }

    private static bool IsNumber(object? value) => value is long or double or bool;

    private static object Numbers(string op, object left, object right, PyToken at, PyConfigParser parser)
    {
        if (left is bool lb) left = lb ? 1L : 0L;
        if (right is bool rb) right = rb ? 1L : 0L;
        if (left is long a && right is long b)
        {
            switch (op)
            {
                case "+": return checked(a + b);
                case "-": return checked(a - b);
                case "*": return checked(a * b);
                case "/":
                    if (b == 0) throw parser.Error(at, "division by zero");
                    return (double)a / b;
                case "//":
                    if (b == 0) throw parser.Error(at, "integer division by zero");
                    return FloorDiv(a, b);
                case "%":
                    if (b == 0) throw parser.Error(at, "integer modulo by zero");
                    return a - FloorDiv(a, b) * b;
                case "**":
                    if (b >= 0)
                    {
                        long result = 1;
                        for (long i = 0; i < b; i++) result = checked(result * a);
                        return result;
                    }
                    return Math.Pow(a, b);
            }
        }
        double x = Convert.ToDouble(left, CultureInfo.InvariantCulture), y = Convert.ToDouble(right, CultureInfo.InvariantCulture);
        switch (op)
        {
            case "+": return x + y;
            case "-": return x - y;
            case "*": return x * y;
            case "/":
                if (y == 0) throw parser.Error(at, "float division by zero");
                return x / y;
            case "//":
                if (y == 0) throw parser.Error(at, "float floor division by zero");
                return Math.Floor(x / y);
            case "%":
                if (y == 0) throw parser.Error(at, "float modulo by zero");
                double m = x % y;
                return m != 0 && (m < 0) != (y < 0) ? m + y : m;
            case "**": return Math.Pow(x, y);
        }
        throw parser.Error(at, $"unsupported operator {op}");
    }

    private static long FloorDiv(long a, long b)
    {
        long q = a / b;
        return (a % b != 0) && ((a < 0) != (b < 0)) ? q - 1 : q;
    }

    private static IEnumerable<object?> Concat(List<object?> a, List<object?> b)
    {
        foreach (var x in a) yield return ConfigValue.DeepClone(x);
        foreach (var x in b) yield return ConfigValue.DeepClone(x);
    }

    private static string Repeat(string s, long n, PyToken at, PyConfigParser parser)
    {
        if (n <= 0 || s.Length == 0) return "";
        parser.Spend(Times(s.Length, n), at);
        return string.Concat(Enumerable.Repeat(s, (int)n));
    }

    private static List<object?> RepeatItems(List<object?> items, long n, PyToken at, PyConfigParser parser)
    {
        if (n <= 0 || items.Count == 0) return [];
        parser.Spend(Times(ConfigBudget.SizeOf(items) - 1, n), at);
        var repeated = new List<object?>(checked((int)(items.Count * n)));
        for (long i = 0; i < n; i++)
            foreach (var x in items) repeated.Add(ConfigValue.DeepClone(x));
        return repeated;
    }

    /// <summary>a × b, saturating at <see cref="long.MaxValue"/> (so the budget check itself cannot overflow).</summary>
    private static long Times(long a, long b) => a > long.MaxValue / b ? long.MaxValue : a * b;
}
