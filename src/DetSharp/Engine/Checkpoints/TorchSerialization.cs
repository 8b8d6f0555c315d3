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

    public static object? Load(Stream stream, string name = "checkpoint")
    {
        Span<byte> magic = stackalloc byte[4];
        int read = stream.ReadAtLeast(magic, 4, throwOnEndOfStream: false);
        stream.Seek(0, SeekOrigin.Begin);
        if (read < 4 || magic[0] != 'P' || magic[1] != 'K')
            return LegacyTorchFormat.Load(stream, name);
        using var zip = new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: true);
        var pklEntry = zip.Entries.FirstOrDefault(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal) && e.FullName.Count(c => c == '/') == 1)
                       ?? throw new DetSharpException($"{name} is a zip file but not a PyTorch checkpoint (no <name>/data.pkl record).");
        string prefix = pklEntry.FullName[..pklEntry.FullName.IndexOf('/')];
        var cache = new Dictionary<string, Tensor>();
        try
        {
            using var pkl = new MemoryStream();
            using (var ps = pklEntry.Open()) ps.CopyTo(pkl);
            pkl.Position = 0;
            var reader = new PickleReader(pkl, (dtype, key, numel) =>
            {
                if (cache.TryGetValue(key, out var cached)) return cached;
                var entry = zip.GetEntry($"{prefix}/data/{key}") ?? throw new DetSharpException($"{name}: tensor record data/{key} is missing.");
                var flat = FromBytes(ReadAll(entry), dtype, numel, $"{name}: data/{key}");
                cache[key] = flat;
                return flat;
            });
            return reader.Load();
        }
        catch (InvalidDataException e)
        {
            throw new DetSharpException($"{name} could not be read as a PyTorch checkpoint: {e.Message}");
        }
        finally
        {
            foreach (var t in cache.Values) t.Dispose();
        }
    }

    internal static Tensor FromBytes(byte[] bytes, ScalarType dtype, long numel, string what)
    {
        var flat = empty(numel, dtype);
        long expected = numel * flat.ElementSize;
        if (bytes.LongLength < expected)
        {
            flat.Dispose();
            throw new DetSharpException($"{what} holds {bytes.LongLength} bytes, {expected} expected: the file is truncated or corrupt.");
        }
        if (expected > 0) flat.bytes = bytes.AsSpan(0, checked((int)expected));
        return flat;
    }

    private static byte[] ReadAll(ZipArchiveEntry entry)
    {
        using var s = entry.Open();
        using var ms = new MemoryStream(entry.Length > 0 && entry.Length < int.MaxValue ? (int)entry.Length : 0);
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
