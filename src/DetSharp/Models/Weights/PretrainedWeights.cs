using System.Reflection;
using System.Text.RegularExpressions;
using DetSharp.Engine.Checkpoints;
using DetSharp.IO;
using DetSharp.Models.Onnx;
using static TorchSharp.torch;

namespace DetSharp.Models.Weights;

/// <summary>The file formats <see cref="PretrainedWeights.Read"/> understands.</summary>
public enum WeightsFormat
{
    /// <summary>From the name: <c>.safetensors</c>, <c>.onnx</c>, else PyTorch.</summary>
    Auto,

    /// <summary>PyTorch <c>torch.save</c> (zip or legacy): a bare state dict or mmcv's {meta, state_dict, optimizer}.</summary>
    Pth,

    Safetensors,

    /// <summary>An ONNX ResNet; its initializers are mapped onto <c>ResNet</c>'s keys (<see cref="OnnxResNetImporter"/>).</summary>
    Onnx,
}

/// <summary>
/// Where pretrained weights come from: a file (<c>.pth</c>, <c>.safetensors</c>, ONNX ResNet) or
/// <c>nuget://resnet18-imagenet</c>, the ImageNet ResNet-18 inside the NuGet package
/// Microsoft.ML.DnnImageFeaturizer.ResNet18 that the build downloads (or, from the DetSharp package, the first use
/// downloads: <see cref="LocateResNet18File"/>) — the one pretrained backbone reachable offline. It is CNTK's ResNet-18 rather than torchvision's: build it with
/// <c>dict(type='ResNet', depth=18, stage_blocks=(2, 2, 2, 3), pad_mode='cntk')</c> and feed it BGR images in
/// 0..255 minus the per-channel mean of its preprocessing (<see cref="ResNet18ImgNormMean"/>, std 1, <c>to_rgb=False</c>).
/// </summary>
public static class PretrainedWeights
{
    public const string ResNet18Uri = "nuget://resnet18-imagenet";

    public const string ResNet18Package = "Microsoft.ML.DnnImageFeaturizer.ResNet18";

    /// <summary>The file inside the package.</summary>
    public const string ResNet18RelativePath = "tools/DnnImageModels/ResNet18Onnx/ResNet18.onnx";

    /// <summary>Its preprocessing graph (RGB→BGR, minus a 224×224 mean image).</summary>
    public const string ResNet18PreprocessRelativePath = "tools/DnnImageModels/ResNetPrepOnnx/ResNetPreprocess.onnx";

    /// <summary>
    /// The per-channel means (B, G, R) of ResNetPreprocess.onnx's mean image, rounded to 3 decimals: the <c>img_norm_cfg</c>
    /// mean for the network (std 1, <c>to_rgb=False</c>). The image itself varies by a few units across positions.
    /// </summary>
    public static readonly double[] ResNet18ImgNormMean = [103.063, 115.903, 123.152];

    /// <summary>Environment variable naming ResNet18.onnx directly (overrides the package folder).</summary>
    public const string ResNet18EnvVar = "DETSHARP_RESNET18_ONNX";

    /// <summary>The package version this build downloads.</summary>
    public static string ResNet18PackageVersion => Metadata("DetSharp.ResNet18PackageVersion") ?? "0.23.1";

    /// <summary>
    /// The full path of a file in the ResNet-18 package: <c>$DETSHARP_RESNET18_ONNX</c> (for ResNet18.onnx), the NuGet
    /// package folder (<c>$NUGET_PACKAGES</c>, else <c>~/.nuget/packages</c>; building this checkout restores the package
    /// there), a <c>DnnImageModels</c> folder beside the application, else the package downloaded into the NuGet package
    /// folder now, once (<see cref="NuGetPackageDownload"/>: an application that references the DetSharp package never
    /// restored it). <paramref name="log"/> (default: the console's error stream) hears of that download.
    /// </summary>
    public static string LocateResNet18File(string relativePath = ResNet18RelativePath, Action<string>? log = null)
    {
        var tried = new List<string>();
        if (relativePath == ResNet18RelativePath && Environment.GetEnvironmentVariable(ResNet18EnvVar) is { Length: > 0 } env)
        {
            if (File.Exists(env)) return env;
            tried.Add($"{env} (${ResNet18EnvVar})");
        }
        string version = ResNet18PackageVersion;
        // NuGet's package folder: $NUGET_PACKAGES when set (NuGet then ignores ~/.nuget/packages, and so do we).
        string root = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } packages
            ? packages
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        string candidate = Path.Combine(root, ResNet18Package.ToLowerInvariant(), version, relativePath);
        if (File.Exists(candidate)) return candidate;
        tried.Add(candidate);
        string beside = Path.Combine(AppContext.BaseDirectory, "DnnImageModels", relativePath["tools/DnnImageModels/".Length..]);
        if (File.Exists(beside)) return beside;
        tried.Add(beside);
        string downloaded;
        try
        {
            downloaded = Path.Combine(NuGetPackageDownload.Fetch(ResNet18Package, version, log ?? Console.Error.WriteLine), relativePath);
        }
        catch (DetSharpException e)
        {
            throw new DetSharpException(
                $"{ResNet18Uri} needs the NuGet package {ResNet18Package} {version}, which is not in the NuGet package folder and {e.Message} " +
                $"Or set ${ResNet18EnvVar} to a copy of ResNet18.onnx. Looked for: {string.Join("; ", tried)}.", e);
        }
        if (File.Exists(downloaded)) return downloaded;
        throw new DetSharpException($"{ResNet18Uri}: the NuGet package {ResNet18Package} {version} has no {relativePath} ({downloaded}).");
    }

    /// <summary>
    /// The state dict of a checkpoint name, keys with a leading <c>module.</c> removed: a file path,
    /// <c>nuget://resnet18-imagenet</c>, or as mmcv an <c>http(s)://</c> URL or a <c>torchvision://</c>,
    /// <c>open-mmlab://</c>, <c>mmcls://</c> name, downloaded into torch's cache unless already there
    /// (<see cref="ModelZoo.Resolve"/>; <paramref name="log"/> and <paramref name="progress"/> report the download).
    /// </summary>
    public static Dictionary<string, Tensor> Read(string checkpoint, WeightsFormat format = WeightsFormat.Auto,
        Action<string>? log = null, Action<string>? progress = null)
    {
        if (checkpoint.Equals(ResNet18Uri, StringComparison.OrdinalIgnoreCase))
            return ReadOnnx(LocateResNet18File(log: log), checkpoint);
        var scheme = Regex.Match(checkpoint, @"^([a-zA-Z][a-zA-Z0-9+.-]*)://");
        if (scheme.Success && !ModelZoo.IsRemote(checkpoint))
        {
            throw new DetSharpException(
                $"checkpoint '{checkpoint}': '{scheme.Groups[1].Value}://' is not a scheme DetSharp reads (it reads http(s)://, torchvision://, " +
                $"open-mmlab://, openmmlab://, mmcls:// and '{ResNet18Uri}'). Download the file yourself and give its path (a .pth, .safetensors or ONNX ResNet).");
        }
        string file = ModelZoo.Resolve(checkpoint, log, progress);
        if (!File.Exists(file)) throw new DetSharpException($"checkpoint file not found: {checkpoint}");
        if (format == WeightsFormat.Auto)
        {
            string ext = Path.GetExtension(file).ToLowerInvariant();
            format = ext == ".safetensors" ? WeightsFormat.Safetensors : ext == ".onnx" ? WeightsFormat.Onnx : WeightsFormat.Pth;
        }
        Dictionary<string, Tensor> sd = format switch
        {
            WeightsFormat.Safetensors => SafeTensors.Load(file),
            WeightsFormat.Onnx => ReadOnnx(file, checkpoint),
            // By name: Checkpoint.Load finds the cached file again and applies mmcls://'s backbone selection.
            _ => ReadPth(checkpoint),
        };
        return StripModulePrefix(sd);
    }

    /// <summary>The ONNX ResNet's weights under ResNet's keys (see <see cref="OnnxResNetImporter"/>).</summary>
    public static OnnxResNetWeights ImportOnnx(string path) => OnnxResNetImporter.Import(OnnxModel.Load(path), path);

    private static Dictionary<string, Tensor> ReadOnnx(string path, string name)
    {
        var weights = OnnxResNetImporter.Import(OnnxModel.Load(path), name);
        return weights.StateDict;
    }

    private static Dictionary<string, Tensor> ReadPth(string checkpoint)
    {
        var ckpt = Checkpoint.Load(checkpoint);
        return new Dictionary<string, Tensor>(ckpt.StateDict);
    }

    /// <summary>mmcv's default <c>revise_keys=[(r'^module\.', '')]</c>.</summary>
    public static Dictionary<string, Tensor> StripModulePrefix(Dictionary<string, Tensor> sd)
    {
        if (!sd.Keys.Any(k => k.StartsWith("module.", StringComparison.Ordinal))) return sd;
        var result = new Dictionary<string, Tensor>();
        foreach (var (k, v) in sd) result[k.StartsWith("module.", StringComparison.Ordinal) ? k["module.".Length..] : k] = v;
        return result;
    }

    /// <summary>
    /// mmcv's <c>_load_checkpoint_with_prefix</c>: the tensors whose key starts with <paramref name="prefix"/> (a '.'
    /// is appended when missing), with the prefix removed; none is an error naming the prefix.
    /// </summary>
    public static Dictionary<string, Tensor> SelectPrefix(Dictionary<string, Tensor> sd, string prefix, string checkpoint)
    {
        if (!prefix.EndsWith('.')) prefix += ".";
        var result = sd.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value);
        if (result.Count == 0)
            throw new DetSharpException($"{prefix} is not in the pretrained model {checkpoint} (its keys start with: {string.Join(", ", sd.Keys.Select(k => k.Split('.')[0]).Distinct().Take(10))}).");
        return result;
    }

    private static string? Metadata(string key) =>
        typeof(PretrainedWeights).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == key)?.Value;
}
