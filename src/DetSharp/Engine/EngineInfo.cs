using System.Globalization;
using System.Reflection;
using TorchSharp;

namespace DetSharp.Engine;

/// <summary>Versions and times written into checkpoints and logs.</summary>
public static class EngineInfo
{
    public static string DetSharpVersion { get; } = Informational(typeof(EngineInfo).Assembly);

    public static string TorchSharpVersion { get; } = Informational(typeof(torch).Assembly);

    /// <summary>Python's <c>time.asctime()</c>: <c>Tue Dec  1 21:51:15 2021</c>.</summary>
    public static string AscTime(DateTime t) =>
        string.Create(CultureInfo.InvariantCulture, $"{t:ddd} {t:MMM} {t.Day,2} {t:HH:mm:ss} {t:yyyy}");

    private static string Informational(Assembly assembly)
    {
        var version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
                      ?? assembly.GetName().Version?.ToString() ?? "unknown";
        int plus = version.IndexOf('+');
        // Keep 7 characters of the commit hash, as mmdet_version does ("2.28.2+abc1234").
        return plus > 0 && version.Length > plus + 8 ? version[..(plus + 8)] : version;
    }
}
