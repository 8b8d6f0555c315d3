using System.Text.Json;

namespace DetSharp.Tests.TestSupport;

/// <summary>
/// Finds <c>../shared</c> (docs, fixtures, datasets) beside the repository root: walks up from the test
/// assembly's folder to the folder holding <c>DetSharp.slnx</c>.
/// </summary>
public static class SharedFixtures
{
    private static readonly Lazy<string?> SharedRoot = new(FindSharedRoot);

    /// <summary>The shared folder, or null when it is not there.</summary>
    public static string? Root => SharedRoot.Value;

    /// <summary>The full path of a file under <c>../shared</c>, or null when the folder or the file is missing.</summary>
    public static string? TryPath(string relativePath)
    {
        if (Root is null)
        {
            return null;
        }

        var path = Path.Combine(Root, relativePath);
        return File.Exists(path) || Directory.Exists(path) ? path : null;
    }

    /// <summary>The full path of a file that a <see cref="SharedFixtureFactAttribute"/> already checked.</summary>
    public static string FullPath(string relativePath) =>
        TryPath(relativePath) ?? throw new FileNotFoundException($"Shared fixture '{relativePath}' not found (shared root: {Root ?? "none"}).");

    /// <summary>Parses a JSON fixture.</summary>
    public static JsonDocument LoadJson(string relativePath) => JsonDocument.Parse(File.ReadAllText(FullPath(relativePath)));

    private static string? FindSharedRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "DetSharp.slnx")))
            {
                var shared = Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared"));
                return Directory.Exists(shared) ? shared : null;
            }
        }

        return null;
    }
}
