using System.Text.Json;

namespace DetSharp.IO;

/// <summary>
/// mmcv's <c>CheckpointLoader</c> schemes (mmcv 1.7.1 <c>runner/checkpoint.py</c>) for a checkpoint name:
/// <c>http(s)://</c> URLs (downloaded into torch's cache by <see cref="TorchHub"/>), and the aliases resolved through
/// mmcv's tables in <c>model_zoo/</c> (embedded as shipped by mmcv): <c>torchvision://NAME</c> (also the deprecated
/// <c>modelzoo://</c>; torchvision 0.12's URLs, <c>ResNet50_Weights</c> spelled as <c>resnet50</c>),
/// <c>open-mmlab://NAME</c> / <c>openmmlab://NAME</c> (with <c>deprecated.json</c>'s renames and
/// <c>$MMCV_HOME/open_mmlab.json</c>'s additions) and <c>mmcls://NAME</c> (whose <c>backbone.</c> weights alone are kept,
/// see <see cref="MmclsKey"/>). Anything else without <c>://</c> is a local path.
/// </summary>
public static class ModelZoo
{
    // mmcv's prefixes by loader; its loader's name (load_from_X) gives the "load checkpoint from X path" wording.
    private static readonly (string Prefix, string Kind)[] Schemes =
    [
        ("http://", "http"), ("https://", "http"), ("torchvision://", "torchvision"), ("modelzoo://", "torchvision"),
        ("open-mmlab://", "openmmlab"), ("openmmlab://", "openmmlab"), ("mmcls://", "mmcls"),
    ];

    private static readonly Lazy<Dictionary<string, string>> TorchvisionUrls = new(() => Table("torchvision_0.12.json"));
    private static readonly Lazy<Dictionary<string, string>> OpenMmlabUrls = new(() => Table("open_mmlab.json"));
    private static readonly Lazy<Dictionary<string, string>> MmclsUrls = new(() => Table("mmcls.json"));
    private static readonly Lazy<Dictionary<string, string>> Deprecated = new(() => Table("deprecated.json"));

    /// <summary>mmcv's loader kind: <c>http</c>, <c>torchvision</c>, <c>openmmlab</c>, <c>mmcls</c>, or <c>local</c>.</summary>
    public static string Kind(string checkpoint) =>
        Schemes.FirstOrDefault(s => checkpoint.StartsWith(s.Prefix, StringComparison.Ordinal)).Kind ?? "local";

    /// <summary>mmcv's log wording: <c>http path: URL</c>, <c>local path: FILE</c>, ...</summary>
    public static string Describe(string checkpoint) => $"{Kind(checkpoint)} path: {checkpoint}";

    /// <summary>Whether the name is a URL or a model-zoo alias (anything <see cref="Resolve"/> turns into a file).</summary>
    public static bool IsRemote(string checkpoint) => Kind(checkpoint) != "local";

    /// <summary>mmcv's <c>_process_mmcls_checkpoint</c>: a <c>mmcls://</c> checkpoint keeps its <c>backbone.X</c> weights as <c>X</c>; null drops the key.</summary>
    public static string? MmclsKey(string key) => key.StartsWith("backbone.", StringComparison.Ordinal) ? key["backbone.".Length..] : null;

    /// <summary>
    /// The local file of a checkpoint name: a local path unchanged, a URL or alias downloaded into
    /// <paramref name="hub"/>'s cache (default <see cref="TorchHub.Current"/>) unless already there. <paramref name="log"/>
    /// gets deprecation notes and the download's messages, <paramref name="progress"/> its progress bar.
    /// </summary>
    public static string Resolve(string checkpoint, Action<string>? log = null, Action<string>? progress = null, TorchHub? hub = null)
    {
        if (!IsRemote(checkpoint)) return checkpoint;
        hub ??= TorchHub.Current;
        string target = Target(checkpoint, hub.Options, log);
        if (target.StartsWith("http://", StringComparison.Ordinal) || target.StartsWith("https://", StringComparison.Ordinal))
            return hub.Fetch(target, log, progress);
        // An open_mmlab.json entry that is not a URL names a file under mmcv's home (load_from_openmmlab).
        string file = Path.Combine(hub.Options.MmcvHome, target);
        return File.Exists(file) ? file : throw new DetSharpException($"{checkpoint} is {target} under mmcv's home, but {file} does not exist; place the file there (or set $MMCV_HOME).");
    }

    /// <summary>The URL (or, for some <c>open-mmlab://</c> entries, the file under mmcv's home) a name stands for.</summary>
    public static string Target(string checkpoint, TorchHubOptions? options = null, Action<string>? log = null)
    {
        string kind = Kind(checkpoint);
        string prefix = Schemes.First(s => checkpoint.StartsWith(s.Prefix, StringComparison.Ordinal)).Prefix;
        string name = checkpoint[prefix.Length..];
        switch (kind)
        {
            case "http":
                return checkpoint;
            case "torchvision":
                if (prefix == "modelzoo://") log?.Invoke("The URL scheme of \"modelzoo://\" is deprecated, please use \"torchvision://\" instead");
                // torchvision's `ResNet50_Weights.IMAGENET1K_V1` spelling maps to the table's lower-case keys.
                return Lookup(TorchvisionUrls.Value, name.ToLowerInvariant().Replace("_weights", "", StringComparison.Ordinal), checkpoint, "torchvision_0.12.json");
            case "mmcls":
                return Lookup(MmclsUrls.Value, name, checkpoint, "mmcls.json");
            default:
                if (Deprecated.Value.TryGetValue(name, out var renamed))
                {
                    log?.Invoke($"{prefix}{name} is deprecated in favor of {prefix}{renamed}");
                    name = renamed;
                }
                var urls = new Dictionary<string, string>(OpenMmlabUrls.Value);
                string external = Path.Combine((options ?? TorchHubOptions.FromEnvironment()).MmcvHome, "open_mmlab.json");
                if (File.Exists(external))
                {
                    foreach (var (k, v) in ReadTable(File.ReadAllText(external), external)) urls[k] = v;
                }
                return Lookup(urls, name, checkpoint, "open_mmlab.json");
        }
    }

    private static string Lookup(Dictionary<string, string> table, string name, string checkpoint, string tableName)
    {
        if (table.TryGetValue(name, out var url)) return url;
        var near = table.Keys.Where(k => k.Contains(name, StringComparison.OrdinalIgnoreCase) || name.Contains(k, StringComparison.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal).Take(8).ToList();
        string hint = near.Count > 0 ? $"similar names: {string.Join(", ", near)}" : $"names include: {string.Join(", ", table.Keys.Take(8))}";
        throw new DetSharpException($"checkpoint '{checkpoint}': '{name}' is not in mmcv's {tableName} ({hint}); use one of its names, a URL or a file path.");
    }

    private static Dictionary<string, string> Table(string fileName)
    {
        using var stream = typeof(ModelZoo).Assembly.GetManifestResourceStream("DetSharp.model_zoo." + fileName)
                           ?? throw new InvalidOperationException($"model_zoo/{fileName} is not embedded in {typeof(ModelZoo).Assembly.GetName().Name}.");
        using var reader = new StreamReader(stream);
        return ReadTable(reader.ReadToEnd(), "model_zoo/" + fileName);
    }

    private static Dictionary<string, string> ReadTable(string json, string source)
    {
        try
        {
            return JsonSerializer.Deserialize<Dictionary<string, string>>(json)
                   ?? throw new DetSharpException($"{source} must hold a JSON object of names to URLs, not null.");
        }
        catch (JsonException e)
        {
            throw new DetSharpException($"{source} must hold a JSON object of names to URLs: {e.Message}");
        }
    }
}
