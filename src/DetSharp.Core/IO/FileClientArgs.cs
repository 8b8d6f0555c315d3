using DetSharp.Config;

namespace DetSharp.IO;

/// <summary>
/// mmcv's <c>file_client_args</c> (on datasets, <c>LoadImageFromFile</c>, <c>LoadAnnotations</c>): which storage backend
/// reads the files. DetSharp reads local files, mmcv's default <c>dict(backend='disk')</c>; another backend (petrel, http,
/// memcached, lmdb) is refused rather than silently read from disk.
/// </summary>
public static class FileClientArgs
{
    public static void Check(ConfigDict? args, string owner)
    {
        if (args is null) return;
        string? backend = args.Get<string?>("backend", null);
        if (backend != "disk" || args.Keys.Any(k => k != "backend"))
            throw new DetSharpException($"{owner}: file_client_args {ConfigValue.Describe(args)} is not supported; DetSharp reads local files "
                                        + "(dict(backend='disk'), the default): copy the data to disk and remove file_client_args.");
    }
}
