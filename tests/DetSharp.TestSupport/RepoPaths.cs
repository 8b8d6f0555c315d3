namespace DetSharp.TestSupport;

/// <summary>Where the repository is: the folder holding <c>DetSharp.slnx</c> above the test assembly.</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    public static string Configs => Path.Combine(Root, "configs");

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "DetSharp.slnx")))
            dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("DetSharp.slnx not found above " + AppContext.BaseDirectory);
    }
}
