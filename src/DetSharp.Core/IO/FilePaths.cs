namespace DetSharp.IO;

/// <summary>Where a path really leads: symbolic links resolved component by component, for containment and identity checks.</summary>
public static class FilePaths
{
    private const int MaxLinks = 40; // Linux's own limit (ELOOP)

    /// <summary>
    /// The absolute path with every symbolic link along it resolved (as <c>realpath</c>); components that do not exist
    /// yet are kept as written, so the answer also says where a file about to be created will land.
    /// </summary>
    public static string Real(string path)
    {
        string full = Path.GetFullPath(path);
        int links = 0;
        while (true)
        {
            string root = Path.GetPathRoot(full)!;
            var parts = full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
            string current = root;
            string? restart = null;
            for (int i = 0; i < parts.Length && restart is null; i++)
            {
                string next = Path.Combine(current, parts[i]);
                if (new FileInfo(next).LinkTarget is { } target)
                {
                    if (++links > MaxLinks) throw new DetSharpException($"{path}: too many levels of symbolic links.");
                    restart = Path.GetFullPath(Path.Combine([Path.Combine(current, target), .. parts[(i + 1)..]]));
                }
                else if (!Path.Exists(next))
                {
                    // Nothing below a missing component can be a link.
                    return Path.Combine([next, .. parts[(i + 1)..]]);
                }
                current = next;
            }
            if (restart is null) return current;
            full = restart;
        }
    }

    /// <summary>Whether <paramref name="path"/> is <paramref name="folder"/> or lies below it (both already <see cref="Real"/>).</summary>
    public static bool IsInside(string path, string folder)
    {
        string prefix = folder.EndsWith(Path.DirectorySeparatorChar) ? folder : folder + Path.DirectorySeparatorChar;
        return path == folder || path.StartsWith(prefix, StringComparison.Ordinal);
    }
}
