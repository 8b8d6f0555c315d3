namespace DetSharp.IO;

/// <summary>
/// The files a command reads, so that none of them is also where it writes: <c>infer DIR --out-dir DIR</c> would draw
/// over the input images, <c>convert via2coco X.json -o X.json</c> would replace the source annotations. Paths are
/// compared after resolving symbolic links (an output folder that links to the input folder is the input folder).
/// </summary>
public sealed class ProtectedInputs
{
    private readonly Dictionary<string, string> _inputs = new(StringComparer.Ordinal);

    public ProtectedInputs(IEnumerable<string> inputs)
    {
        foreach (var input in inputs) _inputs.TryAdd(FilePaths.Real(input), input);
    }

    /// <summary>Throws when <paramref name="output"/> is one of the inputs; <paramref name="what"/> names the output for the message (e.g. "--out").</summary>
    public void Check(string output, string what)
    {
        if (_inputs.TryGetValue(FilePaths.Real(output), out var input))
            throw new DetSharpException(
                $"{what} {output} is the input {input}: writing it would overwrite the input. Choose another output path.");
    }
}
