namespace DetSharp.IO;

/// <summary>
/// A folder that receives files named after data — an annotation's <c>file_name</c>, an input image's name — for
/// <c>test --show-dir</c>, <c>infer --out-dir</c> and <c>browse-dataset</c>. Data cannot steer where they land: a relative
/// name keeps its sub-folders, a rooted name or one with <c>..</c> is flattened to its file name, a symbolic link may not
/// lead out of the folder, and names are made unique within the run (<c>x.png</c>, <c>x_1.png</c>, ...) so two images
/// never overwrite each other's output.
/// </summary>
public sealed class OutputFolder
{
    // Case-insensitive: on a case-insensitive file system A.jpg and a.jpg are one file.
    private readonly HashSet<string> _used = new(StringComparer.OrdinalIgnoreCase);
    private readonly string _realRoot;

    /// <summary>Creates the folder (and its parents) if needed.</summary>
    public OutputFolder(string root)
    {
        Root = Path.GetFullPath(root);
        try
        {
            Directory.CreateDirectory(Root);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DetSharpException($"{Root}: cannot create the output folder: {e.Message}", e);
        }
        _realRoot = FilePaths.Real(Root);
    }

    public string Root { get; }

    /// <summary>
    /// The full path for <paramref name="name"/> inside the folder, with its extension replaced by <paramref name="extension"/>
    /// when given (".png"); its parent folders are created.
    /// </summary>
    public string PathFor(string name, string? extension = null)
    {
        string relative = Confine(name);
        if (extension is not null) relative = Path.ChangeExtension(relative, extension);
        relative = Unique(relative);
        string full = Path.GetFullPath(Path.Combine(Root, relative));
        string parent = Path.GetDirectoryName(full)!;
        // Checked before creating anything, so a link inside the folder cannot make us create folders elsewhere.
        if (!FilePaths.IsInside(FilePaths.Real(full), _realRoot))
            throw new DetSharpException($"'{name}': its output {full} leads out of {Root} through a symbolic link; remove the link or choose another folder.");
        try
        {
            Directory.CreateDirectory(parent);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DetSharpException($"{parent}: cannot create the folder for '{name}': {e.Message}", e);
        }
        return full;
    }

    /// <summary>A relative path that stays inside any folder: sub-folders kept; rooted names or '..' reduced to the file name.</summary>
    internal static string Confine(string name)
    {
        var parts = name.Split(['/', '\\'], StringSplitOptions.RemoveEmptyEntries);
        bool escapes = Path.IsPathRooted(name) || parts.Contains("..") || (parts.Length > 0 && parts[0].EndsWith(':'));
        var kept = (escapes ? parts[^1..] : parts).Where(p => p is not ("." or "..")).ToArray();
        return kept.Length == 0 ? "unnamed" : Path.Combine(kept);
    }

    private string Unique(string relative)
    {
        string candidate = relative;
        string dir = Path.GetDirectoryName(relative) ?? "";
        for (int n = 1; !_used.Add(candidate); n++)
            candidate = Path.Combine(dir, $"{Path.GetFileNameWithoutExtension(relative)}_{n}{Path.GetExtension(relative)}");
        return candidate;
    }
}
