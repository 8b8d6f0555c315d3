using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using TorchSharp;

namespace DetSharp.Utils;

/// <summary>MMDetection's <c>collect_env</c>: versions and capabilities of the running environment.</summary>
public static class CollectEnv
{
    /// <summary>The entries in a stable order, as (name, value) pairs. OpenCV is reported when loaded by the host.</summary>
    public static IReadOnlyList<(string Key, string Value)> Collect(Func<string>? openCvVersion = null)
    {
        var entries = new List<(string, string)>
        {
            ("DetSharp", InformationalVersion(typeof(CollectEnv).Assembly)),
            ("Runtime", RuntimeInformation.FrameworkDescription),
            ("OS", RuntimeInformation.OSDescription),
            ("Architecture", RuntimeInformation.ProcessArchitecture.ToString()),
            ("TorchSharp", InformationalVersion(typeof(torch).Assembly)),
            ("libtorch", torch.__version__),
            ("Threads (torch intra-op)", torch.get_num_threads().ToString(CultureInfo.InvariantCulture)),
            ("Processors", Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture)),
            ("CUDA available", torch.cuda.is_available().ToString()),
        };
        if (torch.cuda.is_available())
            entries.Add(("CUDA devices", torch.cuda.device_count().ToString(CultureInfo.InvariantCulture)));
        if (openCvVersion is not null)
            entries.Add(("OpenCV", openCvVersion()));
        return entries;
    }

    private static string InformationalVersion(Assembly assembly)
    {
        var version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
                      ?? assembly.GetName().Version?.ToString() ?? "unknown";
        // Strip the source-link commit hash the SDK appends ("0.1.0+abc123").
        int plus = version.IndexOf('+');
        return plus > 0 ? version[..plus] : version;
    }
}
