using System.Text.Json;

namespace DetSharp.Core.Tests.TestSupport;

/// <summary>Locates <c>../shared</c> (docs, fixtures, datasets) next to the repository root.</summary>
public static class SharedFixtures
{
    private static readonly Lazy<string?> SharedRoot = new(FindShared);

    /// <summary>The shared folder, or null when it is not present beside the repository.</summary>
    public static string? Root => SharedRoot.Value;

    public static string Path(params string[] parts) =>
        System.IO.Path.Combine([Root ?? throw new InvalidOperationException("../shared not found"), .. parts]);

    public static JsonDocument LoadJson(params string[] parts) => JsonDocument.Parse(File.ReadAllBytes(Path(parts)));

    private static string? FindShared()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "DetSharp.slnx")))
            {
                var shared = System.IO.Path.GetFullPath(System.IO.Path.Combine(dir.FullName, "..", "shared"));
                return Directory.Exists(shared) ? shared : null;
            }
        }
        return null;
    }
}

/// <summary>A fact that is skipped, with the reason, when <c>../shared</c> is not beside the repository root.</summary>
public sealed class FixtureFactAttribute : FactAttribute
{
    public FixtureFactAttribute()
    {
        if (SharedFixtures.Root == null)
            Skip = "../shared not found beside the repository root (walked up from the test binary to DetSharp.slnx); reference fixtures unavailable.";
    }
}

/// <summary>A theory skipped like <see cref="FixtureFactAttribute"/> when <c>../shared</c> is absent.</summary>
public sealed class FixtureTheoryAttribute : TheoryAttribute
{
    public FixtureTheoryAttribute()
    {
        if (SharedFixtures.Root == null)
            Skip = "../shared not found beside the repository root (walked up from the test binary to DetSharp.slnx); reference fixtures unavailable.";
    }
}
