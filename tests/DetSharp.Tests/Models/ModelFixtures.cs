using DetSharp.Config;
using DetSharp.Models.Detectors;
using DetSharp.Registry;
using DetSharp.Tests.TestSupport;

namespace DetSharp.Tests.Models;

/// <summary>Builds detectors from fixture or shipped configs.</summary>
internal static class ModelFixtures
{
    public static BaseDetector Build(ConfigDict model)
    {
        ComponentRegistration.EnsureRegistered();
        return Registries.Models.Build<BaseDetector>(model);
    }

    public static ConfigDict ModelConfig(string fullPath) => Config.Config.FromFile(fullPath).Get<ConfigDict>("model");

    /// <summary>The repository's configs/ folder.</summary>
    public static string RepoConfig(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "DetSharp.slnx")))
                return Path.Combine(dir.FullName, "configs", relative);
        }
        throw new DirectoryNotFoundException("repository root (DetSharp.slnx) not found");
    }

    public static List<(string Key, string Shape)> ReadTsv(string relative) =>
        File.ReadAllLines(SharedFixtures.FullPath(relative))
            .Where(l => l.Length > 0)
            .Select(l => l.Split('\t'))
            .Select(p => (p[0], p[1]))
            .ToList();
}
