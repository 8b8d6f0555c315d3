namespace DetSharp.Converters;

/// <summary>Bad input records found by a converter: every problem (file, record, reason), and no output was written.</summary>
public sealed class ConversionException(IReadOnlyList<string> problems)
    : DetSharpException(Format(problems))
{
    public IReadOnlyList<string> Problems { get; } = problems;

    private static string Format(IReadOnlyList<string> problems)
    {
        const int Shown = 20;
        var lines = problems.Take(Shown).Select(p => "  " + p);
        string more = problems.Count > Shown ? $"\n  ... and {problems.Count - Shown} more" : "";
        return $"{problems.Count} bad record(s); nothing was written. Fix them and run again:\n{string.Join("\n", lines)}{more}";
    }
}
