using DetSharp.Config;
using DetSharp.Models.Detectors;
using DetSharp.Registry;

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
    public static string RepoConfig(string relative) => Path.Combine(RepoPaths.Configs, relative);

    public static List<(string Key, string Shape)> ReadTsv(string relative) =>
        File.ReadAllLines(SharedData.FullPath(relative))
            .Where(l => l.Length > 0)
            .Select(l => l.Split('\t'))
            .Select(p => (p[0], p[1]))
            .ToList();
}
