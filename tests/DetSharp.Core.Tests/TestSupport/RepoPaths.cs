namespace DetSharp.Core.Tests.TestSupport;

/// <summary>Where the repository and the read-only <c>../shared</c> folder (fixtures, datasets) are.</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    /// <summary>The shared folder beside the repository (<c>../shared</c>), as in CI.</summary>
    public static string Shared { get; } = Path.GetFullPath(Path.Combine(Root, "..", "shared"));

    public static bool HasShared => Directory.Exists(Shared);

    public static string Configs => Path.Combine(Root, "configs");

    public static string InShared(params string[] parts) => Path.Combine([Shared, .. parts]);

    public static System.Text.Json.JsonDocument LoadSharedJson(params string[] parts) =>
        System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(InShared(parts)));

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "DetSharp.slnx")))
            dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("DetSharp.slnx not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>A fact that needs <c>../shared</c>; skipped with the reason when that folder is absent.</summary>
public sealed class SharedFactAttribute : FactAttribute
{
    public SharedFactAttribute()
    {
        if (!RepoPaths.HasShared)
            Skip = $"needs the shared fixtures folder at {RepoPaths.Shared}, which is absent";
    }
}

/// <summary>A theory that needs <c>../shared</c>; skipped with the reason when that folder is absent.</summary>
public sealed class SharedTheoryAttribute : TheoryAttribute
{
    public SharedTheoryAttribute()
    {
        if (!RepoPaths.HasShared)
            Skip = $"needs the shared fixtures folder at {RepoPaths.Shared}, which is absent";
    }
}
