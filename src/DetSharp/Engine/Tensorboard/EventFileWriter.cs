using System.Buffers.Binary;
using System.Text;

namespace DetSharp.Engine.Tensorboard;

/// <summary>
/// Writes a TensorBoard event file (<c>events.out.tfevents.&lt;unix time&gt;.&lt;hostname&gt;</c>) without TensorFlow:
/// TFRecord framing (uint64 LE length, masked CRC-32C of the length, payload, masked CRC-32C of the payload) around
/// hand-encoded protobuf <c>Event</c> messages. The first record carries <c>file_version = "brain.Event:2"</c>; every
/// scalar is an <c>Event{wall_time, step, summary{value{tag, simple_value}}}</c>. Each record is appended and flushed,
/// so a crash leaves only complete records.
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
        WriteRecord(EncodeEvent(WallTime(), 0, FileVersion, null));
    }

    /// <summary>Appends one scalar (<c>add_scalar</c>).</summary>
    public void AddScalar(string tag, float value, long step, double? wallTime = null) =>
        WriteRecord(EncodeEvent(wallTime ?? WallTime(), step, null, EncodeSummary(tag, value)));

    private static double WallTime() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;

    private void WriteRecord(byte[] payload)
    {
        Span<byte> header = stackalloc byte[12];
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)payload.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], Crc32C.Masked(header[..8]));
        Span<byte> footer = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(footer, Crc32C.Masked(payload));
        var record = new byte[12 + payload.Length + 4];
        header.CopyTo(record);
        payload.CopyTo(record, 12);
        footer.CopyTo(record.AsSpan(12 + payload.Length));
        _stream.Write(record);
        _stream.Flush();
    }

    /// <summary><c>Event</c>: 1 wall_time (double), 2 step (int64), 3 file_version (string), 5 summary (message).</summary>
    public static byte[] EncodeEvent(double wallTime, long step, string? fileVersion, byte[]? summary)
    {
        var ms = new MemoryStream();
        ms.WriteByte(0x09);
        Span<byte> d = stackalloc byte[8];
        BinaryPrimitives.WriteDoubleLittleEndian(d, wallTime);
        ms.Write(d);
        if (step != 0)
        {
            ms.WriteByte(0x10);
            WriteVarint(ms, unchecked((ulong)step));
        }
        if (fileVersion is not null) WriteBytes(ms, 0x1A, Encoding.UTF8.GetBytes(fileVersion));
        if (summary is not null) WriteBytes(ms, 0x2A, summary);
        return ms.ToArray();
    }

    /// <summary><c>Summary</c> with one <c>Value</c>: 1 tag (string), 2 simple_value (float).</summary>
    public static byte[] EncodeSummary(string tag, float value)
    {
        var v = new MemoryStream();
        WriteBytes(v, 0x0A, Encoding.UTF8.GetBytes(tag));
        v.WriteByte(0x15);
        Span<byte> f = stackalloc byte[4];
        BinaryPrimitives.WriteSingleLittleEndian(f, value);
        v.Write(f);
        var s = new MemoryStream();
        WriteBytes(s, 0x0A, v.ToArray());
        return s.ToArray();
    }

    private static void WriteBytes(Stream s, byte key, byte[] bytes)
    {
        s.WriteByte(key);
        WriteVarint(s, (ulong)bytes.Length);
        s.Write(bytes);
    }

    private static void WriteVarint(Stream s, ulong value)
    {
        while (value >= 0x80)
        {
            s.WriteByte((byte)(value | 0x80));
            value >>= 7;
        }
        s.WriteByte((byte)value);
    }

    public void Dispose() => _stream.Dispose();
}
