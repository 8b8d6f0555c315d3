namespace DetSharp.Config;

internal enum PyTokenKind { Name, Int, Float, String, FString, Op, Newline, End }

/// <summary>One token of a config file. <see cref="Value"/> holds the decoded literal for numbers and strings
/// (for an f-string, its <see cref="FStringPart"/>s).</summary>
internal readonly record struct PyToken(PyTokenKind Kind, string Text, object? Value, int Line, int Column)
{
    public bool Is(string op) => Kind == PyTokenKind.Op && Text == op;

    public bool IsName(string name) => Kind == PyTokenKind.Name && Text == name;

    public override string ToString() => Kind switch
    {
        PyTokenKind.Newline => "end of line",
        PyTokenKind.End => "end of file",
        _ => $"'{Text}'",
    };
}
