using System.Buffers.Binary;
using System.Numerics;
using Google.Protobuf;
using Tensorboard;

namespace DetSharp.Engine.Tensorboard;

/// <summary>
/// Writes a TensorBoard event file (<c>events.out.tfevents.&lt;unix time&gt;.&lt;hostname&gt;</c>) without TensorFlow: the
/// <c>Event</c> / <c>Summary</c> protobuf messages are TorchSharp's generated classes (namespace <c>Tensorboard</c>), in
/// TFRecord framing (uint64 LE length, masked CRC-32C of the length, payload, masked CRC-32C of the payload). The first
/// record carries <c>file_version = "brain.Event:2"</c>. Each record is appended and flushed, so a crash leaves only
/// complete records.
/// </summary>
public sealed class EventFileWriter : IDisposable
{
    public const string FileVersion = "brain.Event:2";

    private readonly FileStream _stream;

    public string FilePath { get; }

    public EventFileWriter(string logDir)
    {
        Directory.CreateDirectory(logDir);
        long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        FilePath = Path.Combine(logDir, $"events.out.tfevents.{now:D10}.{Environment.MachineName}");
        _stream = new FileStream(FilePath, FileMode.Append, FileAccess.Write, FileShare.Read);
        Write(new Event { WallTime = WallTime(), FileVersion = FileVersion });
    }

    /// <summary>Appends one scalar (<c>add_scalar</c>): a summary value with <c>simple_value</c>.</summary>
    public void AddScalar(string tag, float value, long step, double? wallTime = null) =>
        Write(new Event
        {
            WallTime = wallTime ?? WallTime(), Step = step,
            Summary = new Summary { Value = { new Summary.Types.Value { Tag = tag, SimpleValue = value } } },
        });

    /// <summary>
    /// Appends a text (<c>add_text</c>, as torch's <c>summary.text</c> makes it): tag <c>{tag}/text_summary</c>, the text
    /// plugin's metadata, and the text as a one-element string tensor. TensorBoard shows it under TEXT.
    /// </summary>
    public void AddText(string tag, string text, long step, double? wallTime = null)
    {
        var value = new Summary.Types.Value
        {
            Tag = tag + "/text_summary",
            // TextPluginData(version=0) serialises to no bytes.
            Metadata = new SummaryMetadata { PluginData = new SummaryMetadata.Types.PluginData { PluginName = "text", Content = ByteString.Empty } },
            Tensor = new TensorProto
            {
                Dtype = DataType.DtString,
                StringVal = { ByteString.CopyFromUtf8(text) },
                TensorShape = new TensorShapeProto { Dim = { new TensorShapeProto.Types.Dim { Size = 1 } } },
            },
        };
        Write(new Event { WallTime = wallTime ?? WallTime(), Step = step, Summary = new Summary { Value = { value } } });
    }

    private static double WallTime() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;

    private void Write(Event e)
    {
        byte[] payload = e.ToByteArray();
        var record = new byte[12 + payload.Length + 4];
        BinaryPrimitives.WriteUInt64LittleEndian(record, (ulong)payload.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(8), MaskedCrc32C(record.AsSpan(0, 8)));
        payload.CopyTo(record, 12);
        BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(12 + payload.Length), MaskedCrc32C(payload));
        _stream.Write(record);
        _stream.Flush();
    }

    /// <summary>CRC-32C (Castagnoli) with the framework's hardware-accelerated step (<see cref="BitOperations.Crc32C(uint, ulong)"/>).</summary>
    internal static uint Crc32C(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFFu;
        while (data.Length >= 8)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }
        foreach (byte b in data) crc = BitOperations.Crc32C(crc, b);
        return ~crc;
    }

    /// <summary>TFRecord's masked CRC-32C: <c>((crc &gt;&gt; 15) | (crc &lt;&lt; 17)) + 0xa282ead8</c>.</summary>
    internal static uint MaskedCrc32C(ReadOnlySpan<byte> data)
    {
        uint crc = Crc32C(data);
        return unchecked(((crc >> 15) | (crc << 17)) + 0xa282ead8u);
    }

    public void Dispose() => _stream.Dispose();
}
