using System.IO.Compression;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Engine.Checkpoints;

/// <summary>
/// <c>torch.save</c> / <c>torch.load</c> for nested Python values with tensors, in PyTorch's zip format:
/// <c>archive/data.pkl</c> (pickle protocol 2), <c>archive/data/N</c> (raw little-endian tensor storages, stored uncompressed),
/// <c>archive/byteorder</c> and <c>archive/version</c>. Files written here load in Python with <c>torch.load</c>.
/// TorchSharp.PyBridge's <c>save_py</c>/<c>load_py</c> handle a flat state dict only; checkpoints need nesting (meta,
/// state_dict, optimizer), so the pickle is written and read here.
/// </summary>
public static class TorchSerialization
{
    private const string Prefix = "archive";

    /// <summary>Writes <paramref name="value"/> to <paramref name="stream"/> as <c>torch.save</c> would.</summary>
    public static void Save(object? value, Stream stream)
    {
        using var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true);
        int next = 0;
        var storages = new List<(string Key, Tensor Tensor)>();
        using var pkl = new MemoryStream();
        new PickleWriter(pkl, t =>
        {
            string key = (next++).ToString(System.Globalization.CultureInfo.InvariantCulture);
            storages.Add((key, t));
            return key;
        }).Dump(value);

        WriteEntry(zip, $"{Prefix}/data.pkl", pkl.ToArray());
        WriteEntry(zip, $"{Prefix}/byteorder", "little"u8.ToArray());
        foreach (var (key, tensor) in storages)
        {
            var entry = zip.CreateEntry($"{Prefix}/data/{key}", CompressionLevel.NoCompression);
            using var es = entry.Open();
            using var cpu = tensor.detach().to(CPU).contiguous();
            es.Write(cpu.bytes);
        }
        WriteEntry(zip, $"{Prefix}/version", "3\n"u8.ToArray());
    }

    /// <summary>Reads a file written by <c>torch.save</c> (zip format) or by <see cref="Save(object?, Stream)"/>.</summary>
    public static object? Load(string path)
    {
        using var stream = File.OpenRead(path);
        return Load(stream, path);
    }

    /// <summary>
    /// Reads a checkpoint from <paramref name="stream"/>. Everything the file declares — record sizes, storage element
    /// counts, tensor offsets, sizes and strides — is checked against the bytes actually there before libtorch allocates
    /// or views anything, so a crafted or damaged file fails with a message naming it (never a multi-gigabyte allocation
    /// from a few hundred bytes, nor libtorch's native stack trace).
    /// </summary>
    public static object? Load(Stream stream, string name = "checkpoint")
    {
        Span<byte> magic = stackalloc byte[4];
        int read = stream.ReadAtLeast(magic, 4, throwOnEndOfStream: false);
        stream.Seek(0, SeekOrigin.Begin);
        if (read < 4 || magic[0] != 'P' || magic[1] != 'K')
            return LegacyTorchFormat.Load(stream, name);
        ZipArchive zip;
        try
        {
            zip = new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: true);
        }
        catch (InvalidDataException e)
        {
            throw new DetSharpException($"{name} is truncated or corrupt: it starts as a zip archive (PyTorch's format) but is not a complete one ({e.Message}). "
                                        + "Copy or download it again; a checkpoint written by an interrupted run is never left half-written by DetSharp.");
        }
        using var zipScope = zip;
        var pklEntry = zip.Entries.FirstOrDefault(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal) && e.FullName.Count(c => c == '/') == 1)
                       ?? throw new DetSharpException($"{name} is a zip file but not a PyTorch checkpoint (no <name>/data.pkl record).");
        string prefix = pklEntry.FullName[..pklEntry.FullName.IndexOf('/')];
        var cache = new Dictionary<string, Tensor>();
        try
        {
            using var pkl = new MemoryStream();
            using (var ps = Open(pklEntry, stream.Length, name)) ps.CopyTo(pkl);
            pkl.Position = 0;
            var reader = new PickleReader(pkl, (dtype, key, numel) =>
            {
                if (cache.TryGetValue(key, out var cached)) return cached;
                var entry = zip.GetEntry($"{prefix}/data/{key}") ?? throw new DetSharpException($"{name}: tensor record data/{key} is missing.");
                long expected = StorageBytes(dtype, numel, $"{name}: storage data/{key}");
                if (entry.Length != expected)
                    throw new DetSharpException($"{name}: storage data/{key} declares {numel:N0} elements ({expected:N0} bytes) but the archive holds {entry.Length:N0} bytes: the file is crafted or corrupt.");
                using var data = Open(entry, stream.Length, name);
                var flat = FromBytes(ReadAll(data, expected), dtype, numel, $"{name}: data/{key}");
                cache[key] = flat;
                return flat;
            });
            return reader.Load();
        }
        catch (Exception e) when (e is not DetSharpException and not OutOfMemoryException)
        {
            // Native (libtorch) messages carry its C++ stack after the first line.
            string first = e.Message.Split('\n', 2)[0];
            throw new DetSharpException($"{name} could not be read as a PyTorch checkpoint: {first}");
        }
        finally
        {
            foreach (var t in cache.Values) t.Dispose();
        }
    }

    /// <summary>
    /// Why <paramref name="path"/> cannot be a checkpoint, from a cheap look (it exists, its zip directory is complete and
    /// names data.pkl, or it starts as the legacy format); null when it looks readable. <c>--auto-resume</c> uses it to skip
    /// a dangling <c>latest.pth</c> or a damaged file without loading every candidate.
    /// </summary>
    public static string? Problem(string path)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget is { } target && info.ResolveLinkTarget(returnFinalTarget: true) is not { Exists: true })
            return $"points to {target}, which does not exist";
        if (!info.Exists) return "does not exist";
        try
        {
            using var stream = File.OpenRead(path);
            int first = stream.ReadByte();
            if (first == 0x80) return null; // legacy torch.save: a pickle first
            if (first != 'P') return "is not a PyTorch checkpoint";
            stream.Seek(0, SeekOrigin.Begin);
            using var zip = new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: true);
            if (!zip.Entries.Any(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal)))
                return "is a zip file but not a PyTorch checkpoint";
            if (zip.Entries.Any(e => e.Length > stream.Length))
                return "declares records larger than the file (crafted or corrupt)";
            return null;
        }
        catch (InvalidDataException e)
        {
            return $"is truncated or corrupt ({e.Message})";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"cannot be read ({e.Message})";
        }
    }

    /// <summary>Bytes of <paramref name="numel"/> elements of <paramref name="dtype"/>, refusing negative or absurd counts.</summary>
    internal static long StorageBytes(ScalarType dtype, long numel, string what)
    {
        long elementSize = ElementSize(dtype);
        if (numel < 0 || numel > long.MaxValue / elementSize)
            throw new DetSharpException($"{what} declares {numel} elements: the file is crafted or corrupt.");
        return numel * elementSize;
    }

    internal static long ElementSize(ScalarType dtype) => dtype switch
    {
        ScalarType.Float64 or ScalarType.Int64 or ScalarType.ComplexFloat32 => 8,
        ScalarType.Float32 or ScalarType.Int32 => 4,
        ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Int16 => 2,
        ScalarType.ComplexFloat64 => 16,
        _ => 1,
    };

    /// <summary>An entry's data stream, refusing entries that claim more bytes than the whole file (a decompression bomb).</summary>
    private static Stream Open(ZipArchiveEntry entry, long fileLength, string name)
    {
        if (entry.Length > fileLength)
            throw new DetSharpException($"{name}: record {entry.FullName} declares {entry.Length:N0} bytes in a file of {fileLength:N0}: the file is crafted or corrupt.");
        return entry.Open();
    }

    internal static Tensor FromBytes(byte[] bytes, ScalarType dtype, long numel, string what)
    {
        long expected = StorageBytes(dtype, numel, what);
        if (bytes.LongLength < expected)
            throw new DetSharpException($"{what} holds {bytes.LongLength} bytes, {expected} expected: the file is truncated or corrupt.");
        var flat = empty(numel, dtype);
        if (expected > 0) flat.bytes = bytes.AsSpan(0, checked((int)expected));
        return flat;
    }

    private static byte[] ReadAll(Stream s, long expected)
    {
        using var ms = new MemoryStream(expected > 0 && expected < int.MaxValue ? (int)expected : 0);
        s.CopyTo(ms);
        return ms.ToArray();
    }

    private static void WriteEntry(ZipArchive zip, string name, byte[] data)
    {
        var entry = zip.CreateEntry(name, CompressionLevel.NoCompression);
        using var s = entry.Open();
        s.Write(data);
    }
}
