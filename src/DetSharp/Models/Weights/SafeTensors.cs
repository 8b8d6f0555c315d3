using System.Buffers.Binary;
using System.Text.Json;
using DetSharp.Engine.Checkpoints;
using static TorchSharp.torch;

namespace DetSharp.Models.Weights;

/// <summary>
/// Reads the safetensors format: an 8-byte little-endian header length N, N bytes of JSON
/// (<c>{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}</c>, offsets
/// relative to the byte buffer after the header), then the raw little-endian tensor data. Tensors come back in
/// the order of their data (the order the writer stored them).
/// </summary>
public static class SafeTensors
{
    private static readonly Dictionary<string, ScalarType> DTypes = new()
    {
        ["F64"] = ScalarType.Float64,
        ["F32"] = ScalarType.Float32,
        ["F16"] = ScalarType.Float16,
        ["BF16"] = ScalarType.BFloat16,
        ["I64"] = ScalarType.Int64,
        ["I32"] = ScalarType.Int32,
        ["I16"] = ScalarType.Int16,
        ["I8"] = ScalarType.Int8,
        ["U8"] = ScalarType.Byte,
        ["BOOL"] = ScalarType.Bool,
    };

    /// <summary>The tensors of a .safetensors file by name; a malformed file stops with a message naming it and the problem.</summary>
    public static Dictionary<string, Tensor> Load(string path)
    {
        if (!File.Exists(path)) throw new DetSharpException($"safetensors file not found: {path}");
        byte[] bytes = File.ReadAllBytes(path);
        if (bytes.Length < 8) throw new DetSharpException($"{path} is not a safetensors file (shorter than its 8-byte header length).");
        ulong headerLen = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (headerLen > (ulong)(bytes.Length - 8))
            throw new DetSharpException($"{path} is not a safetensors file (header length {headerLen} exceeds the file size {bytes.Length}).");
        int dataStart = 8 + (int)headerLen;
        var entries = new List<(string Name, ScalarType DType, long[] Shape, long Begin, long End)>();
        try
        {
            using var doc = JsonDocument.Parse(bytes.AsMemory(8, (int)headerLen));
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (prop.Name == "__metadata__") continue;
                var v = prop.Value;
                string dt = v.GetProperty("dtype").GetString() ?? "";
                if (!DTypes.TryGetValue(dt, out var dtype))
                    throw new DetSharpException($"{path}: tensor '{prop.Name}' has dtype '{dt}', which is not supported ({string.Join(", ", DTypes.Keys)}).");
                var shape = v.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray();
                var offs = v.GetProperty("data_offsets").EnumerateArray().Select(d => d.GetInt64()).ToArray();
                if (offs.Length != 2 || offs[0] < 0 || offs[1] < offs[0] || dataStart + offs[1] > bytes.Length)
                    throw new DetSharpException($"{path}: tensor '{prop.Name}' has data_offsets [{string.Join(", ", offs)}] outside the {bytes.Length - dataStart}-byte data buffer.");
                entries.Add((prop.Name, dtype, shape, offs[0], offs[1]));
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            throw new DetSharpException($"{path} is not a safetensors file (bad JSON header: {e.Message}).");
        }
        var result = new Dictionary<string, Tensor>();
        try
        {
            foreach (var (name, dtype, shape, begin, end) in entries.OrderBy(e => e.Begin))
            {
                long numel = shape.Aggregate(1L, (a, b) => a * b);
                var flat = TorchSerialization.FromBytes(bytes.AsSpan(dataStart + (int)begin, (int)(end - begin)).ToArray(), dtype, numel, $"{path}: tensor '{name}'");
                if (flat.ElementSize * numel != end - begin)
                {
                    flat.Dispose();
                    throw new DetSharpException($"{path}: tensor '{name}' has {end - begin} bytes for shape [{string.Join(", ", shape)}] of {dtype}.");
                }
                result[name] = flat.reshape(shape);
            }
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        return result;
    }
}
