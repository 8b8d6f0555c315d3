using System.Text.Json;

namespace DetSharp.TestSupport;

/// <summary>
/// The read-only <c>../shared</c> folder beside the repository (MMDetection fixtures, datasets), as in CI. Every test that
/// reads it finds it here, and a test that needs it is skipped with <see cref="SkipReason"/> where it is absent
/// (<see cref="SharedFactAttribute"/>, <see cref="SharedTheoryAttribute"/>).
/// </summary>
public static class SharedData
{
    /// <summary>Where the folder is expected, whether or not it is there.</summary>
    public static string Folder { get; } = Path.GetFullPath(Path.Combine(RepoPaths.Root, "..", "shared"));

    public static bool Present => Directory.Exists(Folder);

    /// <summary>The full path of a file or folder under <c>../shared</c> (parts or '/'-separated), or null when it is absent.</summary>
    public static string? TryPath(params string[] parts)
    {
        string path = Path.Combine([Folder, .. parts]);
        return File.Exists(path) || Directory.Exists(path) ? path : null;
    }

    /// <summary>The full path of a file or folder under <c>../shared</c>; throws, with the skip reason, when it is absent.</summary>
    public static string FullPath(params string[] parts) =>
        TryPath(parts) ?? throw new FileNotFoundException(SkipReason(Path.Combine(parts)));

    public static JsonDocument LoadJson(params string[] parts) => JsonDocument.Parse(File.ReadAllBytes(FullPath(parts)));

    /// <summary>Why a test that needs <paramref name="required"/> (paths under <c>../shared</c>) cannot run; null when it can.</summary>
    public static string? SkipReason(params string[] required)
    {
        if (!Present)
            return $"needs the shared fixtures and datasets folder {Folder} (../shared beside the repository), which is absent";
        var missing = required.Where(r => TryPath(r) is null).ToList();
        return missing.Count == 0 ? null : $"needs {string.Join(", ", missing)} under {Folder}, which is absent";
    }
}
