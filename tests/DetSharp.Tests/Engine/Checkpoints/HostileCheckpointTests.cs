using System.IO.Compression;
using System.Numerics;
using System.Text;
using DetSharp.Engine.Checkpoints;
using static TorchSharp.torch;

namespace DetSharp.Tests.Engine.Checkpoints;

/// <summary>
/// Issue 27, items 7, 8 and 10: crafted or damaged checkpoints fail with the file named before libtorch allocates or sees
/// anything; --auto-resume skips what cannot be a checkpoint for the newest one that can.
/// </summary>
public class HostileCheckpointTests
{
    /// <summary>A pickle (protocol 2) of <c>{'w': _rebuild_tensor_v2(('storage', FloatStorage, '0', 'cpu', numel), offset, size, stride, False, OrderedDict())}</c>.</summary>
    private static byte[] TensorPickle(long storageNumel, long offset, long[] size, long[] stride)
    {
        var pkl = new MemoryStream();
        void Op(char c) => pkl.WriteByte((byte)c);
        void Long(long v) { pkl.WriteByte(0x8a); pkl.WriteByte(8); pkl.Write(BitConverter.GetBytes(v)); } // LONG1, 8 bytes
        void Str(string s) { Op('X'); var b = Encoding.UTF8.GetBytes(s); pkl.Write(BitConverter.GetBytes(b.Length)); pkl.Write(b); }
        void Global(string module, string name) { Op('c'); pkl.Write(Encoding.ASCII.GetBytes($"{module}\n{name}\n")); }
        void Tuple(long[] values) { Op('('); foreach (long v in values) Long(v); Op('t'); }
        pkl.Write([0x80, 0x02]);
        Op('}');
        Str("w");
        Global("torch._utils", "_rebuild_tensor_v2");
        Op('(');
        Op('('); Str("storage"); Global("torch", "FloatStorage"); Str("0"); Str("cpu"); Long(storageNumel); Op('t'); Op('Q');
        Long(offset);
        Tuple(size);
        Tuple(stride);
        pkl.WriteByte(0x89);
        Global("collections", "OrderedDict"); Op(')'); Op('R');
        Op('t');
        Op('R');
        Op('s');
        Op('.');
        return pkl.ToArray();
    }

    private static MemoryStream Zip(byte[] pickle, int storageBytes)
    {
        var ms = new MemoryStream();
        using (var zip = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (name, data) in new[] { ("archive/data.pkl", pickle), ("archive/data/0", new byte[storageBytes]), ("archive/version", "3\n"u8.ToArray()) })
            {
                using var s = zip.CreateEntry(name, CompressionLevel.NoCompression).Open();
                s.Write(data);
            }
        }
        ms.Position = 0;
        return ms;
    }

    private static DetSharpException Refused(MemoryStream file) =>
        Assert.Throws<DetSharpException>(() => TorchSerialization.Load(file, "crafted.pth"));

    [Fact]
    public void A_zero_stride_view_that_would_need_gigabytes_is_refused()
    {
        // The issue's 573-byte file: one stored float viewed as 500 million.
        var e = Refused(Zip(TensorPickle(1, 0, [500_000_000], [0]), 4));

        Assert.StartsWith("crafted.pth could not be read as a PyTorch checkpoint: tensor of size [500000000], stride [0]", e.Message);
        Assert.Contains("500000000 elements from a storage of 1", e.Message);
    }

    [Theory]
    [InlineData(4, 1_000_000, new long[] { 2, 2 }, new long[] { 2, 1 }, "outside its storage")]
    [InlineData(4, 0, new long[] { 2, 3 }, new long[] { 2, 1 }, "reaches element 4, outside its storage")]
    [InlineData(4, -1, new long[] { 2 }, new long[] { 1 }, "impossible values")]
    [InlineData(4, 0, new long[] { 2, -2 }, new long[] { 1, 1 }, "impossible values")]
    [InlineData(4, 0, new long[] { 2 }, new long[] { 1, 1 }, "impossible values")]
    [InlineData(4, 0, new long[] { 1L << 40, 1L << 40 }, new long[] { 1, 1 }, "overflow")]
    public void Offsets_sizes_and_strides_outside_the_storage_are_refused(long numel, long offset, long[] size, long[] stride, string why)
    {
        var e = Refused(Zip(TensorPickle(numel, offset, size, stride), (int)numel * 4));

        Assert.Contains(why, e.Message);
        Assert.Contains("crafted or corrupt", e.Message);
        Assert.DoesNotContain("frame #", e.Message);
    }

    [Fact]
    public void A_storage_that_declares_more_than_the_archive_holds_is_refused_before_allocating()
    {
        var e = Refused(Zip(TensorPickle(500_000_000, 0, [1], [1]), 4));

        Assert.Contains("storage data/0 declares 500,000,000 elements (2,000,000,000 bytes) but the archive holds 4 bytes", e.Message);
    }

    [Fact]
    public void A_legacy_file_whose_storage_runs_past_its_end_is_refused_before_allocating()
    {
        var ms = new MemoryStream();
        void Pickle(Action<MemoryStream> body) { ms.Write([0x80, 0x02]); body(ms); ms.WriteByte((byte)'.'); }
        var magic = BigInteger.Parse("119547037146038801333356", System.Globalization.CultureInfo.InvariantCulture).ToByteArray();
        Pickle(s => { s.WriteByte(0x8a); s.WriteByte((byte)magic.Length); s.Write(magic); });
        Pickle(s => { s.WriteByte((byte)'J'); s.Write(BitConverter.GetBytes(1001)); });
        Pickle(s => s.WriteByte((byte)'}'));
        var tensor = TensorPickle(500_000_000, 0, [1], [1]);
        ms.Write(tensor);
        Pickle(s => { s.WriteByte((byte)']'); s.WriteByte((byte)'X'); s.Write(BitConverter.GetBytes(1)); s.WriteByte((byte)'0'); s.WriteByte((byte)'a'); });
        ms.Write(BitConverter.GetBytes(500_000_000L));
        ms.Write(new byte[4]);
        ms.Position = 0;

        var e = Assert.Throws<DetSharpException>(() => TorchSerialization.Load(ms, "legacy.pth"));

        Assert.Contains("legacy.pth: storage 0 declares 500,000,000 elements (2,000,000,000 bytes) but only", e.Message);
    }

    [Fact]
    public void A_pickle_record_longer_than_the_file_is_refused_before_allocating()
    {
        var pickle = new byte[] { 0x80, 0x02, (byte)'B', 0xff, 0xff, 0xff, 0x7f, (byte)'.' }; // BINBYTES of 2 GB
        var e = Refused(Zip(pickle, 0));

        Assert.Contains("runs past the end of the data", e.Message);
    }

    [Fact]
    public void A_truncated_checkpoint_is_named_as_truncated()
    {
        using var dir = new TempDir();
        string whole = Path.Combine(dir.Path, "whole.pth"), truncated = Path.Combine(dir.Path, "truncated.pth");
        using (var f = File.Create(whole)) TorchSerialization.Save(new PyDict { ["state_dict"] = new PyDict { ["w"] = ones(1000) } }, f);
        var bytes = File.ReadAllBytes(whole);
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);

        var e = Assert.Throws<DetSharpException>(() => Checkpoint.Load(truncated));

        Assert.StartsWith($"{truncated} is truncated or corrupt", e.Message);
        Assert.Contains("truncated or corrupt", TorchSerialization.Problem(truncated));
        Assert.Null(TorchSerialization.Problem(whole));
    }

    [Fact]
    public void Auto_resume_skips_a_dangling_latest_and_damaged_files_and_says_so()
    {
        using var dir = new TempDir();
        void Save(string name) { using var f = File.Create(Path.Combine(dir.Path, name)); TorchSerialization.Save(new PyDict { ["meta"] = new PyDict() }, f); }
        Save("epoch_1.pth");
        Save("epoch_2.pth");
        File.WriteAllText(Path.Combine(dir.Path, "epoch_10.pth"), "PK but not really");
        File.CreateSymbolicLink(Path.Combine(dir.Path, "latest.pth"), "epoch_11.pth");
        var warnings = new List<string>();

        string? found = Checkpoint.FindLatest(dir.Path, warnings.Add);

        Assert.Equal(Path.Combine(dir.Path, "epoch_2.pth"), found);
        string warning = Assert.Single(warnings);
        Assert.Contains("latest.pth points to epoch_11.pth, which does not exist", warning);
        Assert.Contains("epoch_10.pth is truncated or corrupt", warning);
        Assert.Contains($"resuming from {found}, the newest valid checkpoint", warning);
        var e = Assert.Throws<DetSharpException>(() => Checkpoint.Load(Path.Combine(dir.Path, "latest.pth")));
        Assert.Contains("is a link to epoch_11.pth, which does not exist", e.Message);
    }

    [Fact]
    public void Auto_resume_with_only_unreadable_checkpoints_stops_rather_than_overwrite_them()
    {
        using var dir = new TempDir();
        File.WriteAllText(Path.Combine(dir.Path, "epoch_3.pth"), "not a checkpoint");

        var e = Assert.Throws<DetSharpException>(() => Checkpoint.FindLatest(dir.Path));

        Assert.Contains("no readable checkpoint", e.Message);
        Assert.Null(Checkpoint.FindLatest(Path.Combine(dir.Path, "empty_or_missing")));
    }

    [Fact]
    public void Stale_temporary_checkpoints_are_removed_and_other_files_kept()
    {
        using var dir = new TempDir();
        string stale = Path.Combine(dir.Path, ".epoch_3.pth.0123456789abcdef0123456789abcdef.tmp");
        string link = Path.Combine(dir.Path, ".latest.pth.fedcba9876543210fedcba9876543210.tmp");
        File.WriteAllText(stale, "half");
        File.WriteAllText(link, "x");
        foreach (var keep in new[] { "notes.tmp", ".hidden.tmp", "epoch_3.pth", ".epoch_3.pth.12345.tmp" }) File.WriteAllText(Path.Combine(dir.Path, keep), "k");

        var removed = CheckpointTempFiles.RemoveStale(dir.Path);

        Assert.Equal([stale, link], removed.Order(StringComparer.Ordinal));
        Assert.Equal([".epoch_3.pth.12345.tmp", ".hidden.tmp", "epoch_3.pth", "notes.tmp"], Directory.GetFiles(dir.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }
}
