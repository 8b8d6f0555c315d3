using System.Buffers.Binary;
using System.Text;
using DetSharp.Engine.Hooks;
using DetSharp.Engine.Tensorboard;
using Tensorboard;

namespace DetSharp.Tests.Engine;

/// <summary>TensorBoard event files: CRC-32C, TFRecord framing checked independently, Events read back with the generated protobuf parser.</summary>
public class TensorboardLoggerTests
{
    [Fact]
    public void Crc32c_matches_the_standard_check_value()
    {
        Assert.Equal(0xE3069283u, EventFileWriter.Crc32C(Encoding.ASCII.GetBytes("123456789")));
        Assert.Equal(0u, EventFileWriter.Crc32C([]));
        // 32 zero bytes and 32 bytes 0..31: the iSCSI (RFC 3720) test vectors.
        Assert.Equal(0x8A9136AAu, EventFileWriter.Crc32C(new byte[32]));
        Assert.Equal(0x46DD794Eu, EventFileWriter.Crc32C(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray()));
    }

    [Fact]
    public void Writer_scalars_read_back_with_checked_framing_tags_steps_and_values()
    {
        using var dir = new TempDir();
        string path;
        using (var writer = new EventFileWriter(dir.Path))
        {
            writer.AddScalar("train/loss_cls", 0.6931f, 50, wallTime: 1700000000.25);
            writer.AddScalar("learning_rate", 0.02f, 50);
            writer.AddScalar("val/bbox_mAP", 0.708f, 300);
            path = writer.FilePath;
        }
        Assert.Matches(@"^events\.out\.tfevents\.\d{10}\..+$", Path.GetFileName(path));

        var events = EventReader.Read(path);
        Assert.Equal(4, events.Count);
        Assert.Equal("brain.Event:2", events[0].FileVersion);
        Assert.Null(events[0].Summary);
        Assert.InRange(events[0].WallTime, 1.6e9, 1e10);
        Assert.Equal(("train/loss_cls", 50L, 0.6931f, 1700000000.25), (Tag(events[1]), events[1].Step, events[1].Summary.Value[0].SimpleValue, events[1].WallTime));
        Assert.Equal(("learning_rate", 50L, 0.02f), (Tag(events[2]), events[2].Step, events[2].Summary.Value[0].SimpleValue));
        Assert.Equal(("val/bbox_mAP", 300L, 0.708f), (Tag(events[3]), events[3].Step, events[3].Summary.Value[0].SimpleValue));
    }

    [Fact]
    public void Text_is_a_text_plugin_summary_of_a_one_element_string_tensor()
    {
        using var dir = new TempDir();
        string path;
        using (var writer = new EventFileWriter(dir.Path))
        {
            writer.AddText("val/bbox_mAP_copypaste", "0.708 0.828 0.782 0.202 0.475 0.811", 13);
            path = writer.FilePath;
        }

        var value = Assert.Single(EventReader.Read(path)[1].Summary.Value);
        Assert.Equal("val/bbox_mAP_copypaste/text_summary", value.Tag);
        Assert.Equal("text", value.Metadata.PluginData.PluginName);
        Assert.Equal(DataType.DtString, value.Tensor.Dtype);
        Assert.Equal([1L], value.Tensor.TensorShape.Dim.Select(d => d.Size));
        Assert.Equal("0.708 0.828 0.782 0.202 0.475 0.811", Assert.Single(value.Tensor.StringVal).ToStringUtf8());
    }

    [Fact]
    public void Reader_rejects_a_corrupted_record()
    {
        using var dir = new TempDir();
        string path;
        using (var writer = new EventFileWriter(dir.Path))
        {
            writer.AddScalar("a", 1f, 1);
            path = writer.FilePath;
        }
        var bytes = File.ReadAllBytes(path);
        bytes[^6] ^= 0x01; // a payload byte of the last record
        File.WriteAllBytes(path, bytes);
        Assert.Throws<InvalidDataException>(() => EventReader.Read(path));
    }

    [Fact]
    public void Hook_in_a_run_writes_train_losses_lr_momentum_and_val_metrics_at_global_iterations()
    {
        using var dir = new TempDir();
        var cfg = EngineTestSupport.LoadConfig(dir.Path, EngineTestSupport.TinyConfig.Replace(
            "hooks=[dict(type='TextLoggerHook')]", "hooks=[dict(type='TextLoggerHook'), dict(type='TensorboardLoggerHook')]"));
        var runner = EngineTestSupport.MakeRunner(dir.Path, new TinyDetector(), cfg);
        runner.RegisterHook(new EvalHook(_ => new EvalResult(
            [new("bbox_mAP", 0.708), new("bbox_mAP_copypaste", "0.708 0.828 0.782 0.202 0.475 0.811")], 13)), HookPriority.Low);

        runner.Run([new TinyBatchSource(count: 4)], [("train", 1)]);

        var file = Assert.Single(Directory.GetFiles(Path.Combine(dir.Path, "tf_logs")));
        var events = EventReader.Read(file);
        Assert.Equal("brain.Event:2", events[0].FileVersion);
        var values = events.Skip(1).Select(e => (e.Step, Value: Assert.Single(e.Summary.Value))).ToList();
        var scalars = values.Where(v => v.Value.ValueCase == Summary.Types.Value.ValueOneofCase.SimpleValue).ToList();
        // Interval 2, 4 batches, 3 epochs: train logs at global iterations 2, 4, 6, ..., 12.
        Assert.Equal([2L, 4, 6, 8, 10, 12], scalars.Where(v => v.Value.Tag == "train/loss").Select(v => v.Step));
        Assert.Equal(["train/loss_mse", "train/loss_reg", "train/acc", "train/loss", "learning_rate", "momentum"],
            values.Where(v => v.Step == 2).Select(v => v.Value.Tag));
        Assert.Equal(0.02f, scalars.First(v => v.Value.Tag == "learning_rate").Value.SimpleValue, 6);
        Assert.Equal(0.9f, scalars.First(v => v.Value.Tag == "momentum").Value.SimpleValue, 6);
        Assert.DoesNotContain(values, v => v.Value.Tag.EndsWith("time", StringComparison.Ordinal));
        // Validation after each epoch, at runner.iter + 1 (mmcv's get_iter): the mAP as a scalar, the copypaste string as text.
        Assert.Equal([5L, 9, 13], scalars.Where(v => v.Value.Tag == "val/bbox_mAP").Select(v => v.Step));
        Assert.All(scalars.Where(v => v.Value.Tag == "val/bbox_mAP"), v => Assert.Equal(0.708f, v.Value.SimpleValue));
        var texts = values.Where(v => v.Value.ValueCase == Summary.Types.Value.ValueOneofCase.Tensor).ToList();
        Assert.Equal([5L, 9, 13], texts.Select(v => v.Step));
        Assert.All(texts, v => Assert.Equal(("val/bbox_mAP_copypaste/text_summary", "0.708 0.828 0.782 0.202 0.475 0.811"),
            (v.Value.Tag, v.Value.Tensor.StringVal[0].ToStringUtf8())));
    }

    private static string Tag(Event e) => Assert.Single(e.Summary.Value).Tag;

    /// <summary>TFRecord framing with both masked CRCs verified by a bitwise CRC-32C, then the generated Event parser.</summary>
    private static class EventReader
    {
        public static List<Event> Read(string path)
        {
            var data = File.ReadAllBytes(path);
            var events = new List<Event>();
            int pos = 0;
            while (pos < data.Length)
            {
                if (pos + 12 > data.Length) throw new InvalidDataException("truncated header");
                ulong length = BinaryPrimitives.ReadUInt64LittleEndian(data.AsSpan(pos));
                uint lengthCrc = BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(pos + 8));
                if (lengthCrc != MaskedCrc(data.AsSpan(pos, 8))) throw new InvalidDataException("length crc");
                int start = pos + 12;
                if (start + (long)length + 4 > data.Length) throw new InvalidDataException("truncated record");
                var payload = data.AsSpan(start, (int)length);
                uint payloadCrc = BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(start + (int)length));
                if (payloadCrc != MaskedCrc(payload)) throw new InvalidDataException("payload crc");
                events.Add(Event.Parser.ParseFrom(payload.ToArray()));
                pos = start + (int)length + 4;
            }
            return events;
        }

        // Independent of the writer's: a bitwise CRC-32C.
        private static uint MaskedCrc(ReadOnlySpan<byte> bytes)
        {
            uint crc = 0xFFFFFFFF;
            foreach (byte b in bytes)
            {
                crc ^= b;
                for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0x82F63B78u & (uint)-(int)(crc & 1));
            }
            crc = ~crc;
            return unchecked(((crc >> 15) | (crc << 17)) + 0xa282ead8u);
        }
    }
}
