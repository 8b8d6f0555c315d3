namespace DetSharp.Config;

/// <summary>
/// What one config file may build, so that a hostile or mistaken config stops with a message naming the file and line
/// instead of overflowing the stack (deep nesting) or allocating until the kernel kills the process (<c>[1] * 10**10</c>,
/// <c>s = s + s</c> repeated, a YAML alias bomb). The size of a value is its list/tuple/dict entries plus the characters
/// of its strings — roughly the length of its dump — counted every time a value is built or copied (a name reference,
/// <c>**d</c>, repetition, concatenation, a YAML alias). The shipped configs stay far below both limits.
/// </summary>
public sealed class ConfigBudget
{
    /// <summary>Deepest nesting of brackets, dicts and operators, in a file and in any value it builds.</summary>
    public const int MaxDepth = 100;

    /// <summary>Entries and string characters one file may build in all (the largest shipped config builds a few thousand).</summary>
    public const long MaxSize = 10_000_000;

    /// <summary>
    /// Values a file's comprehensions may visit in all, and the longest <c>range(...)</c>: the shipped configs loop
    /// over a few stages or blocks; a loop over millions is a mistake (or an attack) and each visit re-evaluates the element.
    /// </summary>
    public const int MaxIterations = 100_000;

    private long _spent;

    /// <summary>Counts <paramref name="size"/> more units built; returns the message to report when the budget is exceeded, else null.</summary>
    public string? Spend(long size)
    {
        if (size <= MaxSize - _spent)
        {
            _spent += size;
            return null;
        }
        return $"this config would build more than {MaxSize:N0} values (list, tuple and dict entries plus string characters, "
               + "counted through every copy, repetition and alias); configs describe settings, not data — make the value smaller";
    }

    /// <summary>The message for nesting deeper than <see cref="MaxDepth"/>.</summary>
    public static string TooDeep =>
        $"the config nests deeper than {MaxDepth} levels (brackets, dicts or operators inside each other); flatten the value";

    /// <summary>The size of a value as <see cref="Spend"/> counts it: 1 per value plus the characters of each string.</summary>
    public static long SizeOf(object? value)
    {
        long size = 0;
        var pending = new Stack<object?>();
        pending.Push(value);
        while (pending.Count > 0)
        {
            var item = pending.Pop();
            size++;
            switch (item)
            {
                case string s:
                    size += s.Length;
                    break;
                case ConfigDict dict:
                    foreach (var (_, child) in dict) pending.Push(child);
                    break;
                case List<object?> list:
                    foreach (var child in list) pending.Push(child);
                    break;
            }
        }
        return size;
    }

    /// <summary>How deeply a value nests (a scalar is 0, <c>[1]</c> is 1), without recursion.</summary>
    public static int DepthOf(object? value)
    {
        int deepest = 0;
        var pending = new Stack<(object? Value, int Depth)>();
        pending.Push((value, 0));
        while (pending.Count > 0)
        {
            var (item, depth) = pending.Pop();
            deepest = Math.Max(deepest, depth);
            switch (item)
            {
                case ConfigDict dict:
                    foreach (var (_, child) in dict) pending.Push((child, depth + 1));
                    break;
                case List<object?> list:
                    foreach (var child in list) pending.Push((child, depth + 1));
                    break;
            }
        }
        return deepest;
    }
}
