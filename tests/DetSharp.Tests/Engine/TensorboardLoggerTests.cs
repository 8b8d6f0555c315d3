using System.Buffers.Binary;
using System.Text;
using DetSharp.Engine.Hooks;
using DetSharp.Engine.Tensorboard;

namespace DetSharp.Tests.Engine;

/// <summary>TensorBoard event files: CRC-32C, TFRecord framing and protobuf Events read back by an independent reader.</summary>
public class TensorboardLoggerTests
{
    [Fact]
    public void Crc32c_matches_the_standard_check_value()
    {
        Assert.Equal(0xE3069283u, Crc32C.Compute(Encoding.ASCII.GetBytes("123456789")));
        Assert.Equal(0u, Crc32C.Compute([]));
        // 32 zero bytes: the iSCSI (RFC 3720) test vector.
        Assert.Equal(0x8A9136AAu, Crc32C.Compute(new byte[32]));
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
        Assert.Null(events[0].Tag);
        Assert.InRange(events[0].WallTime, 1.6e9, 1e10);
        Assert.Equal(("train/loss_cls", 50L, 0.6931f, 1700000000.25), (events[1].Tag, events[1].Step, events[1].Value, events[1].WallTime));
        Assert.Equal(("learning_rate", 50L, 0.02f), (events[2].Tag, events[2].Step, events[2].Value));
        Assert.Equal(("val/bbox_mAP", 300L, 0.708f), (events[3].Tag, events[3].Step, events[3].Value));
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
        var scalars = events.Skip(1).ToList();
        Assert.All(scalars, e => Assert.NotNull(e.Tag));
        // Interval 2, 4 batches, 3 epochs: train logs at global iterations 2, 4, 6, ..., 12.
        Assert.Equal([2L, 4, 6, 8, 10, 12], scalars.Where(e => e.Tag == "train/loss").Select(e => e.Step));
        Assert.Equal(["train/loss_mse", "train/loss_reg", "train/acc", "train/loss", "learning_rate", "momentum"],
            scalars.Where(e => e.Step == 2).Select(e => e.Tag!));
        Assert.Equal(0.02f, scalars.First(e => e.Tag == "learning_rate").Value!.Value, 6);
        Assert.Equal(0.9f, scalars.First(e => e.Tag == "momentum").Value!.Value, 6);
        Assert.DoesNotContain(scalars, e => e.Tag!.EndsWith("time", StringComparison.Ordinal) || e.Tag.Contains("copypaste"));
        // Validation after each epoch, at runner.iter + 1 (mmcv's get_iter).
        var val = scalars.Where(e => e.Tag == "val/bbox_mAP").ToList();
        Assert.Equal([5L, 9, 13], val.Select(e => e.Step));
        Assert.All(val, e => Assert.Equal(0.708f, e.Value));
    }

    /// <summary>A minimal independent reader: TFRecord framing with both masked CRCs verified, and the Event fields used.</summary>
    private static class EventReader
    {
        public sealed record Event(double WallTime, long Step, string? FileVersion, string? Tag, float? Value);

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
                events.Add(ParseEvent(payload.ToArray()));
                pos = start + (int)length + 4;
            }
            return events;
        }

        // Independent of the writer's table: a bitwise CRC-32C.
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

        private static Event ParseEvent(byte[] msg)
        {
            double wall = 0; long step = 0; string? version = null; string? tag = null; float? value = null;
            foreach (var (field, wire, raw, num) in Fields(msg))
            {
                switch (field)
                {
                    case 1 when wire == 1: wall = BitConverter.Int64BitsToDouble((long)num); break;
                    case 2 when wire == 0: step = (long)num; break;
                    case 3 when wire == 2: version = Encoding.UTF8.GetString(raw!); break;
                    case 5 when wire == 2:
                        var values = Fields(raw!).Where(f => f.Field == 1).ToList();
                        Assert.Single(values);
                        foreach (var (vf, vw, vraw, vnum) in Fields(values[0].Raw!))
                        {
                            if (vf == 1 && vw == 2) tag = Encoding.UTF8.GetString(vraw!);
                            else if (vf == 2 && vw == 5) value = BitConverter.Int32BitsToSingle((int)vnum);
                        }
                        break;
                    default: throw new InvalidDataException($"unexpected field {field} wire type {wire}");
                }
            }
            return new Event(wall, step, version, tag, value);
        }

        private static List<(int Field, int Wire, byte[]? Raw, ulong Num)> Fields(byte[] msg)
        {
            var fields = new List<(int, int, byte[]?, ulong)>();
            int pos = 0;
            while (pos < msg.Length)
            {
                ulong key = Varint(msg, ref pos);
                int field = (int)(key >> 3), wire = (int)(key & 7);
                switch (wire)
                {
                    case 0: fields.Add((field, wire, null, Varint(msg, ref pos))); break;
                    case 1: fields.Add((field, wire, null, BinaryPrimitives.ReadUInt64LittleEndian(msg.AsSpan(pos)))); pos += 8; break;
                    case 5: fields.Add((field, wire, null, BinaryPrimitives.ReadUInt32LittleEndian(msg.AsSpan(pos)))); pos += 4; break;
                    case 2:
                        int len = (int)Varint(msg, ref pos);
                        fields.Add((field, wire, msg[pos..(pos + len)], 0)); pos += len; break;
                    default: throw new InvalidDataException($"wire type {wire}");
                }
            }
            if (pos != msg.Length) throw new InvalidDataException("message overrun");
            return fields;
        }

        private static ulong Varint(byte[] msg, ref int pos)
        {
            ulong result = 0;
            for (int shift = 0; ; shift += 7)
            {
                byte b = msg[pos++];
                result |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80) return result;
            }
        }
    }
}
