namespace DetSharp.Datasets;

/// <summary>Python's <c>os.path.join</c> for two parts, as MMDetection joins prefixes and file names.</summary>
public static class PyPath
{
    public static string Join(string? prefix, string name)
    {
        if (string.IsNullOrEmpty(prefix) || Path.IsPathRooted(name)) return name;
        return prefix.EndsWith('/') ? prefix + name : prefix + "/" + name;
    }

    public static bool IsAbs(string path) => path.StartsWith('/');
}
