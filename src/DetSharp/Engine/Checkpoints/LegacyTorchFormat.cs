using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using static TorchSharp.torch;

namespace DetSharp.Engine.Checkpoints;

/// <summary>
/// Reads the pre-1.6 <c>torch.save</c> format (a run of pickles followed by raw storages), which most MMDetection 2.x
/// model-zoo checkpoints use: magic number, protocol 1001, sys info, the object, the storage keys, then for each key
/// an int64 element count and the little-endian data.
/// </summary>
internal static class LegacyTorchFormat
{
    private static readonly BigInteger Magic = BigInteger.Parse("119547037146038801333356", CultureInfo.InvariantCulture);

    public static object? Load(Stream stream, string name)
    {
        var storages = new Dictionary<string, Tensor>();
        try
        {
            object? ReadPlain() => new PickleReader(stream, (_, _, _) => throw new InvalidDataException("unexpected tensor")).Load();
            if (stream.ReadByte() != 0x80)
                throw new DetSharpException($"{name} is not a PyTorch checkpoint (neither a zip archive nor the legacy torch.save format).");
            stream.Seek(-1, SeekOrigin.Current);
            var magic = ReadPlain();
            bool magicOk = magic switch
            {
                BigInteger b => b == Magic,
                _ => false,
            };
            if (!magicOk)
                throw new DetSharpException($"{name} is not a PyTorch checkpoint (neither a zip archive nor the legacy torch.save format).");
            var protocol = ReadPlain();
            if (protocol is not 1001L)
                throw new DetSharpException($"{name}: unsupported legacy torch.save protocol {protocol}.");
            ReadPlain(); // sys_info
            var result = new PickleReader(stream, (dtype, key, numel) =>
            {
                if (!storages.TryGetValue(key, out var flat))
                {
                    // The storages follow the pickle: what one declares must fit in what is left of the file.
                    long bytes = TorchSerialization.StorageBytes(dtype, numel, $"{name}: storage {key}");
                    if (bytes > stream.Length - stream.Position)
                        throw new DetSharpException($"{name}: storage {key} declares {numel:N0} elements ({bytes:N0} bytes) but only {stream.Length - stream.Position:N0} bytes follow: the file is truncated, crafted or corrupt.");
                    flat = empty(numel, dtype);
                    storages[key] = flat;
                }
                return flat;
            }, cloneTensors: false).Load();
            if (ReadPlain() is not List<object?> keys)
                throw new DetSharpException($"{name}: the legacy checkpoint's storage list is missing.");
            Span<byte> sizeBytes = stackalloc byte[8];
            foreach (var keyObj in keys)
            {
                string key = Convert.ToString(keyObj, System.Globalization.CultureInfo.InvariantCulture)!;
                stream.ReadExactly(sizeBytes);
                long count = BinaryPrimitives.ReadInt64LittleEndian(sizeBytes);
                if (!storages.TryGetValue(key, out var flat))
                    throw new DetSharpException($"{name}: storage {key} is listed but never used.");
                if (count != flat.numel() || count * flat.ElementSize > stream.Length - stream.Position)
                    throw new DetSharpException($"{name}: storage {key} holds {count} elements where {flat.numel()} were declared, or runs past the end of the file: the file is truncated, crafted or corrupt.");
                var data = new byte[checked((int)(count * flat.ElementSize))];
                stream.ReadExactly(data);
                if (data.Length > 0) flat.bytes = data;
            }
            return result;
        }
        catch (Exception e) when (e is not DetSharpException and not OutOfMemoryException)
        {
            throw new DetSharpException($"{name} could not be read as a legacy PyTorch checkpoint: {e.Message.Split('\n', 2)[0]}");
        }
        finally
        {
            foreach (var t in storages.Values) t.Dispose();
        }
    }
}
