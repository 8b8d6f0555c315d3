using System.Globalization;
using System.Text.RegularExpressions;
using DetSharp.IO;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DetSharp.Engine.Checkpoints;

/// <summary>What <see cref="Checkpoint.LoadStateDict"/> did: mmcv's missing / unexpected keys and size mismatches.</summary>
public sealed record StateDictLoadReport(
    IReadOnlyList<string> Loaded,
    IReadOnlyList<string> MissingKeys,
    IReadOnlyList<string> UnexpectedKeys,
    IReadOnlyList<string> SizeMismatches)
{
    public bool ExactMatch => MissingKeys.Count == 0 && UnexpectedKeys.Count == 0 && SizeMismatches.Count == 0;

    /// <summary>mmcv's warning text ("The model and loaded state dict do not match exactly ..."), or null when they match.</summary>
    public string? Message
    {
        get
        {
            if (ExactMatch) return null;
            var parts = new List<string> { "The model and loaded state dict do not match exactly\n" };
            parts.AddRange(SizeMismatches);
            if (UnexpectedKeys.Count > 0) parts.Add($"unexpected key in source state_dict: {string.Join(", ", UnexpectedKeys)}\n");
            if (MissingKeys.Count > 0) parts.Add($"missing keys in source state_dict: {string.Join(", ", MissingKeys)}\n");
            return string.Join("\n", parts);
        }
    }
}

/// <summary>A checkpoint read from disk: mmcv's <c>{'meta', 'state_dict', 'optimizer'}</c> (or a bare state dict).</summary>
public sealed class LoadedCheckpoint(string path, PyDict? meta, IReadOnlyDictionary<string, Tensor> stateDict, object? optimizer) : IDisposable
{
    public string Path { get; } = path;

    public PyDict? Meta { get; } = meta;

    /// <summary>The weights, keys with a leading <c>module.</c> removed (mmcv's revise_keys default).</summary>
    public IReadOnlyDictionary<string, Tensor> StateDict { get; } = stateDict;

    /// <summary>The optimizer state in PyTorch's layout, if saved.</summary>
    public object? Optimizer { get; } = optimizer;

    public int? Epoch => Meta?.GetOrNull("epoch") is long e ? (int)e : null;

    public int? Iter => Meta?.GetOrNull("iter") is long i ? (int)i : null;

    /// <summary>The dataset classes stored by training (meta['CLASSES']).</summary>
    public IReadOnlyList<string>? Classes => Meta?.GetOrNull("CLASSES") switch
    {
        PyTuple t => t.Items.Select(x => x?.ToString() ?? "").ToList(),
        List<object?> l => l.Select(x => x?.ToString() ?? "").ToList(),
        string s => [s],
        _ => null,
    };

    public void Dispose()
    {
        foreach (var t in StateDict.Values) t.Dispose();
    }
}

/// <summary>
/// mmcv's checkpoint functions: <c>save_checkpoint</c> (meta + CPU state dict + optimizer, here written atomically:
/// a temporary file in the same folder, flushed to disk, then renamed over the target) and <c>load_checkpoint</c>
/// (non-strict weight loading that reports missing, unexpected and size-mismatched keys).
/// </summary>
public static class Checkpoint
{
    /// <summary>Writes <c>{'meta': meta, 'state_dict': OrderedDict(weights on CPU), 'optimizer': state}</c> to <paramref name="path"/> atomically.</summary>
    public static void Save(string path, nn.Module model, OptimizerHelper? optimizer, IEnumerable<KeyValuePair<string, object?>> meta)
    {
        using var scope = NewDisposeScope();
        var stateDict = new PyDict(isOrderedDict: true);
        foreach (var (key, value) in model.state_dict()) stateDict[key] = value.detach();
        var metaDict = new PyDict();
        foreach (var (key, value) in meta) metaDict[key] = value;
        var checkpoint = new PyDict { ["meta"] = metaDict, ["state_dict"] = stateDict };
        if (optimizer is not null) checkpoint["optimizer"] = OptimizerStateDict.ToPython(optimizer);
        WriteAtomically(path, stream => TorchSerialization.Save(checkpoint, stream));
    }

    /// <summary>Writes a file through a temporary sibling and a rename, so <paramref name="path"/> is either the old file or the complete new one.</summary>
    public static void WriteAtomically(string path, Action<Stream> write)
    {
        string full = System.IO.Path.GetFullPath(path);
        string dir = System.IO.Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        string temp = System.IO.Path.Combine(dir, $".{System.IO.Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>
    /// Points <c>latest.pth</c> (or another link name) at <paramref name="fileName"/> in <paramref name="dir"/>: a relative symlink
    /// as mmcv makes, replaced atomically; a copy where symlinks are unavailable.
    /// </summary>
    public static void UpdateLatest(string dir, string fileName, string linkName = "latest.pth")
    {
        string link = System.IO.Path.Combine(dir, linkName);
        string temp = System.IO.Path.Combine(dir, $".{linkName}.{Guid.NewGuid():N}.tmp");
        try
        {
            File.CreateSymbolicLink(temp, fileName);
            File.Move(temp, link, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or PlatformNotSupportedException)
        {
            try { File.Delete(temp); } catch (IOException) { }
            WriteAtomically(link, stream =>
            {
                using var source = File.OpenRead(System.IO.Path.Combine(dir, fileName));
                source.CopyTo(stream);
            });
        }
    }

    /// <summary>
    /// Reads a checkpoint (mmcv layout or a bare state dict, zip or legacy torch format) from a file, or, as mmcv's
    /// <c>CheckpointLoader</c>, from an <c>http(s)://</c> URL or a <c>torchvision://</c>, <c>open-mmlab://</c> or
    /// <c>mmcls://</c> name, downloaded into torch's cache unless already there (<see cref="ModelZoo.Resolve"/>;
    /// <paramref name="log"/> and <paramref name="progress"/> report the download). A <c>mmcls://</c> checkpoint keeps
    /// its backbone's weights, <c>backbone.</c> removed.
    /// </summary>
    public static LoadedCheckpoint Load(string path, Action<string>? log = null, Action<string>? progress = null)
    {
        string name = path;
        path = ModelZoo.Resolve(name, log, progress);
        if (!File.Exists(path))
            throw new DetSharpException($"checkpoint file not found: {path}");
        if (new FileInfo(path) is { LinkTarget: { } target } link && link.ResolveLinkTarget(returnFinalTarget: true) is not { Exists: true })
            throw new DetSharpException($"checkpoint file not found: {path} is a link to {target}, which does not exist.");
        var root = TorchSerialization.Load(path);
        if (root is not PyDict dict)
            throw new DetSharpException($"{path} does not hold a dict (got {root?.GetType().Name ?? "None"}); a checkpoint or state dict is expected.");
        PyDict weights = dict.GetOrNull("state_dict") as PyDict ?? dict;
        var stateDict = new Dictionary<string, Tensor>();
        bool mmcls = ModelZoo.Kind(name) == "mmcls";
        foreach (var (key, value) in weights)
        {
            if (value is not Tensor t) continue;
            string? revised = mmcls ? ModelZoo.MmclsKey(key.ToString()!) : key.ToString()!;
            if (revised is null) t.Dispose();
            else stateDict[Regex.Replace(revised, @"^module\.", "")] = t;
        }
        if (stateDict.Count == 0)
            throw new DetSharpException($"{path} holds no tensors under 'state_dict' (keys: {string.Join(", ", dict.Keys)}).");
        return new LoadedCheckpoint(path, dict.GetOrNull("meta") as PyDict, stateDict, dict.GetOrNull("optimizer"));
    }

    /// <summary>
    /// mmcv's <c>load_state_dict</c>: copies every tensor whose name and shape match; names the model lacks are
    /// "unexpected", model tensors absent from the source are "missing" (<c>num_batches_tracked</c> excluded), and
    /// tensors whose shapes differ are skipped with torch's "size mismatch" message (how an 80-class COCO head is
    /// dropped when fine-tuning). With <paramref name="strict"/>, any of these is an error.
    /// </summary>
    public static StateDictLoadReport LoadStateDict(nn.Module model, IReadOnlyDictionary<string, Tensor> source, bool strict = false)
    {
        var target = model.state_dict();
        var loaded = new List<string>();
        var missing = new List<string>();
        var mismatches = new List<string>();
        using (no_grad())
        {
            foreach (var (key, dest) in target)
            {
                if (!source.TryGetValue(key, out var src))
                {
                    if (!key.Contains("num_batches_tracked", StringComparison.Ordinal)) missing.Add(key);
                    continue;
                }
                if (!src.shape.SequenceEqual(dest.shape))
                {
                    mismatches.Add($"size mismatch for {key}: copying a param with shape {TorchSize(src.shape)} from checkpoint, the shape in current model is {TorchSize(dest.shape)}.");
                    continue;
                }
                dest.copy_(src);
                loaded.Add(key);
            }
        }
        foreach (var (name, module) in model.named_modules())
            if (module is IStateDictLoadHook hook) hook.AfterLoad(name.Length == 0 ? "" : name + ".", source, missing);
        var unexpected = source.Keys.Where(k => !target.ContainsKey(k)).ToList();
        var report = new StateDictLoadReport(loaded, missing, unexpected, mismatches);
        if (strict && !report.ExactMatch)
            throw new DetSharpException(report.Message!.TrimEnd());
        return report;
    }

    /// <summary>PyTorch's spelling of a shape: <c>torch.Size([81, 1024])</c>.</summary>
    public static string TorchSize(long[] shape) =>
        $"torch.Size([{string.Join(", ", shape.Select(s => s.ToString(CultureInfo.InvariantCulture)))}])";

    /// <summary>
    /// <c>--auto-resume</c>: <c>latest.pth</c> in <paramref name="workDir"/> if present, else the highest <c>epoch_N.pth</c>
    /// / <c>iter_N.pth</c> (mmdet's <c>find_latest_checkpoint</c>); null when there is none. A candidate that cannot be a
    /// checkpoint (a <c>latest.pth</c> link to a deleted file, a damaged copy) is skipped for the next newest, and
    /// <paramref name="warn"/> says which were skipped and why; when every candidate is unreadable it is an error, since
    /// starting from scratch would overwrite them.
    /// </summary>
    public static string? FindLatest(string workDir, Action<string>? warn = null)
    {
        if (!Directory.Exists(workDir)) return null;
        var candidates = new List<string>();
        string latest = System.IO.Path.Combine(workDir, "latest.pth");
        if (File.Exists(latest)) candidates.Add(latest);
        var numbered = new List<(long N, string File)>();
        foreach (var file in Directory.EnumerateFiles(workDir, "*.pth"))
        {
            var m = Regex.Match(System.IO.Path.GetFileName(file), @"^(?:epoch|iter)_(\d+)\.pth$");
            if (m.Success && long.TryParse(m.Groups[1].Value, out long n)) numbered.Add((n, file));
        }
        candidates.AddRange(numbered.OrderByDescending(c => c.N).Select(c => c.File));
        var skipped = new List<string>();
        foreach (var candidate in candidates)
        {
            if (TorchSerialization.Problem(candidate) is { } problem)
            {
                skipped.Add($"{System.IO.Path.GetFileName(candidate)} {problem}");
                continue;
            }
            if (skipped.Count > 0)
                warn?.Invoke($"--auto-resume: {string.Join("; ", skipped)}; resuming from {candidate}, the newest valid checkpoint.");
            return candidate;
        }
        if (skipped.Count > 0)
            throw new DetSharpException($"--auto-resume: no readable checkpoint in {workDir}: {string.Join("; ", skipped)}. "
                                        + "Remove or replace them, or train without --auto-resume (which starts from scratch and overwrites them).");
        return null;
    }
}
