using System.Buffers.Binary;
using System.Text;
using DetSharp.Engine.Checkpoints;
using DetSharp.Models.Weights;
using DetSharp.Tests.Engine;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.Weights;

/// <summary>The safetensors reader and <c>convert weights</c> on a file written here byte by byte with known values.</summary>
public sealed class SafeTensorsTests
{
    /// <summary>
    /// Writes a safetensors file: "module.conv.weight" F32 [2, 1, 1, 3] = 0.5, 1.5, ... 5.5; "module.bn.num_batches_tracked"
    /// I64 [] = 7; "module.head.scale" F16 [2] = 1.0, -2.0 (data stored in a different order than the header lists them).
    /// </summary>
    internal static string WriteSample(string dir)
    {
        var data = new MemoryStream();
        long Put(byte[] bytes)
        {
            long at = data.Length;
            data.Write(bytes);
            return at;
        }
        var f16 = new byte[4];
        BinaryPrimitives.WriteHalfLittleEndian(f16, (Half)1.0f);
        BinaryPrimitives.WriteHalfLittleEndian(f16.AsSpan(2), (Half)(-2.0f));
        long hAt = Put(f16);
        var f32 = new byte[24];
        for (int i = 0; i < 6; i++) BinaryPrimitives.WriteSingleLittleEndian(f32.AsSpan(i * 4), i + 0.5f);
        long wAt = Put(f32);
        var i64 = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(i64, 7);
        long nAt = Put(i64);
        string header = "{\"__metadata__\":{\"format\":\"pt\"}," +
            $"\"module.conv.weight\":{{\"dtype\":\"F32\",\"shape\":[2,1,1,3],\"data_offsets\":[{wAt},{wAt + 24}]}}," +
            $"\"module.bn.num_batches_tracked\":{{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[{nAt},{nAt + 8}]}}," +
            $"\"module.head.scale\":{{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[{hAt},{hAt + 4}]}}}}";
        var headerBytes = Encoding.UTF8.GetBytes(header);
        string path = Path.Combine(dir, "sample.safetensors");
        using var f = File.Create(path);
        var len = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)headerBytes.Length);
        f.Write(len);
        f.Write(headerBytes);
        f.Write(data.ToArray());
        return path;
    }

    internal static void AssertSampleValues(IReadOnlyDictionary<string, Tensor> sd, string prefix = "")
    {
        Assert.Equal([prefix + "head.scale", prefix + "conv.weight", prefix + "bn.num_batches_tracked"], sd.Keys);
        var w = sd[prefix + "conv.weight"];
        Assert.Equal(ScalarType.Float32, w.dtype);
        Assert.Equal([2, 1, 1, 3], w.shape);
        Assert.Equal([0.5f, 1.5f, 2.5f, 3.5f, 4.5f, 5.5f], w.data<float>().ToArray());
        var n = sd[prefix + "bn.num_batches_tracked"];
        Assert.Equal(ScalarType.Int64, n.dtype);
        Assert.Empty(n.shape);
        Assert.Equal(7L, n.item<long>());
        var h = sd[prefix + "head.scale"];
        Assert.Equal(ScalarType.Float16, h.dtype);
        Assert.Equal([1.0f, -2.0f], h.to_type(ScalarType.Float32).data<float>().ToArray());
    }

    [Fact]
    public void Reads_dtypes_shapes_and_values_and_strips_module()
    {
        using var dir = new TempDir();
        string path = WriteSample(dir.Path);
        var raw = SafeTensors.Load(path);
        Assert.Contains("module.conv.weight", raw.Keys);
        AssertSampleValues(PretrainedWeights.Read(path));
    }

    [Fact]
    public void Converts_to_an_mmcv_checkpoint_that_reads_back_equal()
    {
        using var dir = new TempDir();
        string path = WriteSample(dir.Path);
        string output = Path.Combine(dir.Path, "out.pth");
        var result = WeightsConverter.Convert(path, output, WeightsFormat.Safetensors, prefix: "backbone");
        Assert.Equal(3, result.Tensors);
        using var ckpt = Checkpoint.Load(output);
        Assert.Equal(path, ckpt.Meta!["source"]);
        AssertSampleValues(ckpt.StateDict, "backbone.");
    }

    [Fact]
    public void A_file_that_is_not_safetensors_is_named_in_the_error()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "broken.safetensors");
        File.WriteAllBytes(path, [200, 0, 0, 0, 0, 0, 0, 0, (byte)'{']);
        var e = Assert.Throws<DetSharpException>(() => SafeTensors.Load(path));
        Assert.Contains(path, e.Message);
        File.WriteAllBytes(path, [.. BitConverter.GetBytes(2L), .. "[]"u8.ToArray()]);
        Assert.Throws<DetSharpException>(() => SafeTensors.Load(path));
    }
}
