using System.IO.Compression;
using DetSharp.Engine.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Tests.Engine.Checkpoints;

/// <summary>torch.save-format files: nested Python values and tensors survive a write/read round trip; the zip layout is PyTorch's.</summary>
public class TorchSerializationTests
{
    [Fact]
    public void Nested_values_and_tensors_round_trip()
    {
        using var scope = NewDisposeScope();
        var weights = arange(6, dtype: float32).reshape(2, 3);
        var value = new PyDict
        {
            ["meta"] = new PyDict
            {
                ["CLASSES"] = PyTuple.Of("balloon"),
                ["epoch"] = 12L,
                ["big"] = 1L << 40,
                ["neg"] = -7L,
                ["lr"] = 0.02,
                ["config"] = "model = dict(type='MaskRCNN')\n# ünïcode",
                ["none"] = null,
                ["flag"] = true,
            },
            ["state_dict"] = new PyDict(isOrderedDict: true)
            {
                ["conv.weight"] = weights,
                ["bn.num_batches_tracked"] = tensor(5L),
                ["mask"] = tensor(new[] { true, false }),
            },
            ["optimizer"] = new PyDict { ["state"] = new PyDict { [0L] = new PyDict { ["momentum_buffer"] = ones(3) } }, ["param_groups"] = new List<object?> { new PyDict { ["params"] = new List<object?> { 0L } } } },
        };
        using var ms = new MemoryStream();
        TorchSerialization.Save(value, ms);
        ms.Position = 0;

        var back = (PyDict)TorchSerialization.Load(ms)!;

        var meta = (PyDict)back["meta"]!;
        Assert.Equal(["balloon"], ((PyTuple)meta["CLASSES"]!).Items);
        Assert.Equal(12L, meta["epoch"]);
        Assert.Equal(1L << 40, meta["big"]);
        Assert.Equal(-7L, meta["neg"]);
        Assert.Equal(0.02, meta["lr"]);
        Assert.Equal("model = dict(type='MaskRCNN')\n# ünïcode", meta["config"]);
        Assert.Null(meta["none"]);
        Assert.Equal(true, meta["flag"]);
        var sd = (PyDict)back["state_dict"]!;
        Assert.True(sd.IsOrderedDict);
        Assert.Equal(["conv.weight", "bn.num_batches_tracked", "mask"], sd.Keys.Cast<string>());
        var w = (Tensor)sd["conv.weight"]!;
        Assert.Equal([2L, 3L], w.shape);
        Assert.Equal(float32, w.dtype);
        Assert.True(w.eq(weights).all().item<bool>());
        Assert.Equal(5L, ((Tensor)sd["bn.num_batches_tracked"]!).item<long>());
        Assert.Equal([true, false], ((Tensor)sd["mask"]!).data<bool>().ToArray());
        var state = (PyDict)((PyDict)back["optimizer"]!)["state"]!;
        Assert.True(((Tensor)((PyDict)state[0L]!)["momentum_buffer"]!).eq(ones(3)).all().item<bool>());
    }

    [Fact]
    public void Zip_layout_is_pytorchs_with_uncompressed_records()
    {
        using var scope = NewDisposeScope();
        using var ms = new MemoryStream();
        TorchSerialization.Save(new PyDict { ["a"] = ones(2, 2), ["b"] = zeros(3) }, ms);
        ms.Position = 0;
        using var zip = new ZipArchive(ms, ZipArchiveMode.Read);

        Assert.Equal(["archive/data.pkl", "archive/byteorder", "archive/data/0", "archive/data/1", "archive/version"], zip.Entries.Select(e => e.FullName));
        Assert.All(zip.Entries, e => Assert.Equal(e.Length, e.CompressedLength));
        Assert.Equal(16, zip.GetEntry("archive/data/0")!.Length);
    }

    [Fact]
    public void Non_checkpoint_files_are_reported_by_name()
    {
        string path = Path.Combine(Path.GetTempPath(), $"detsharp-not-a-ckpt-{Guid.NewGuid():N}.pth");
        File.WriteAllText(path, "hello, this is not a checkpoint");
        try
        {
            var e = Assert.Throws<DetSharpException>(() => TorchSerialization.Load(path));
            Assert.Contains(path, e.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
