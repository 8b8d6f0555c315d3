using System.Buffers.Binary;
using System.Collections;
using System.Globalization;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Engine.Checkpoints;

/// <summary>
/// Writes Python pickle protocol 2, as <c>torch.save</c> does, with tensors stored out of band:
/// each tensor becomes <c>torch._utils._rebuild_tensor_v2(persistent storage, offset, size, stride, requires_grad, OrderedDict())</c>
/// and its bytes are handed to <see cref="_storeStorage"/>, which returns the record key (<c>data/{key}</c> in the zip).
/// Supported values: null, bool, integers, floats, strings, byte arrays, lists (any <see cref="IList"/>), <see cref="PyTuple"/>,
/// dictionaries (<see cref="PyDict"/> keeps OrderedDict-ness; other <see cref="IDictionary"/> / string-keyed pair sequences are dicts) and tensors.
/// </summary>
internal sealed class PickleWriter(Stream output, Func<Tensor, string> storeStorage)
{
    private readonly Stream _out = output;
    private readonly Func<Tensor, string> _storeStorage = storeStorage;

    public void Dump(object? value)
    {
        _out.WriteByte(0x80); // PROTO
        _out.WriteByte(2);
        Write(value);
        _out.WriteByte((byte)'.'); // STOP
    }

    private void Write(object? value)
    {
        switch (value)
        {
            case null:
                _out.WriteByte((byte)'N');
                break;
            case bool b:
                _out.WriteByte(b ? (byte)0x88 : (byte)0x89);
                break;
            case int or long or short or byte or uint:
                WriteInt(Convert.ToInt64(value, CultureInfo.InvariantCulture));
                break;
            case double d:
                WriteFloat(d);
                break;
            case float f:
                WriteFloat(f);
                break;
            case string s:
                WriteString(s);
                break;
            case byte[] bytes:
                // protocol 2 has no bytes opcode: Python 3 writes _codecs.encode(latin1 str, 'latin1').
                WriteGlobal("_codecs", "encode");
                WriteString(Encoding.Latin1.GetString(bytes));
                WriteString("latin1");
                _out.WriteByte(0x86); // TUPLE2
                _out.WriteByte((byte)'R');
                break;
            case Tensor t:
                WriteTensor(t);
                break;
            case PyTuple tuple:
                WriteTuple(tuple.Items);
                break;
            case PyDict { IsOrderedDict: true } od:
                WriteGlobal("collections", "OrderedDict");
                _out.WriteByte((byte)')');
                _out.WriteByte((byte)'R');
                WriteItems(od.Select(kv => new KeyValuePair<object?, object?>(kv.Key, kv.Value)));
                break;
            case IEnumerable<KeyValuePair<string, object?>> pairs:
                _out.WriteByte((byte)'}');
                WriteItems(pairs.Select(kv => new KeyValuePair<object?, object?>(kv.Key, kv.Value)));
                break;
            case IEnumerable<KeyValuePair<string, Tensor>> tensors:
                _out.WriteByte((byte)'}');
                WriteItems(tensors.Select(kv => new KeyValuePair<object?, object?>(kv.Key, kv.Value)));
                break;
            case IDictionary dict:
                _out.WriteByte((byte)'}');
                WriteItems(dict.Keys.Cast<object>().Select(k => new KeyValuePair<object?, object?>(k, dict[k])));
                break;
            case IEnumerable<KeyValuePair<object, object?>> objectPairs:
                _out.WriteByte((byte)'}');
                WriteItems(objectPairs.Select(kv => new KeyValuePair<object?, object?>(kv.Key, kv.Value)));
                break;
            case IList list:
                _out.WriteByte((byte)']');
                if (list.Count > 0)
                {
                    _out.WriteByte((byte)'(');
                    foreach (var item in list) Write(item);
                    _out.WriteByte((byte)'e'); // APPENDS
                }
                break;
            default:
                throw new ArgumentException($"cannot pickle a {value.GetType().Name}");
        }
    }

    private void WriteItems(IEnumerable<KeyValuePair<object?, object?>> items)
    {
        var list = items.ToList();
        if (list.Count == 0) return;
        _out.WriteByte((byte)'(');
        foreach (var (k, v) in list)
        {
            Write(k);
            Write(v);
        }
        _out.WriteByte((byte)'u'); // SETITEMS
    }

    private void WriteTuple(IReadOnlyList<object?> items)
    {
        switch (items.Count)
        {
            case 0:
                _out.WriteByte((byte)')');
                return;
            case <= 3:
                foreach (var item in items) Write(item);
                _out.WriteByte((byte)(0x84 + items.Count)); // TUPLE1..3
                return;
            default:
                _out.WriteByte((byte)'(');
                foreach (var item in items) Write(item);
                _out.WriteByte((byte)'t');
                return;
        }
    }

    private void WriteInt(long v)
    {
        Span<byte> buf = stackalloc byte[9];
        if (v is >= 0 and < 256)
        {
            _out.WriteByte((byte)'K');
            _out.WriteByte((byte)v);
        }
        else if (v is >= 0 and < 65536)
        {
            _out.WriteByte((byte)'M');
            BinaryPrimitives.WriteUInt16LittleEndian(buf, (ushort)v);
            _out.Write(buf[..2]);
        }
        else if (v is >= int.MinValue and <= int.MaxValue)
        {
            _out.WriteByte((byte)'J');
            BinaryPrimitives.WriteInt32LittleEndian(buf, (int)v);
            _out.Write(buf[..4]);
        }
        else
        {
            _out.WriteByte(0x8a); // LONG1, 8 bytes two's complement
            _out.WriteByte(8);
            BinaryPrimitives.WriteInt64LittleEndian(buf, v);
            _out.Write(buf[..8]);
        }
    }

    private void WriteFloat(double d)
    {
        Span<byte> buf = stackalloc byte[8];
        _out.WriteByte((byte)'G');
        BinaryPrimitives.WriteDoubleBigEndian(buf, d);
        _out.Write(buf);
    }

    private void WriteString(string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        Span<byte> len = stackalloc byte[4];
        _out.WriteByte((byte)'X'); // BINUNICODE
        BinaryPrimitives.WriteInt32LittleEndian(len, bytes.Length);
        _out.Write(len);
        _out.Write(bytes);
    }

    private void WriteGlobal(string module, string name)
    {
        _out.WriteByte((byte)'c');
        var bytes = Encoding.ASCII.GetBytes($"{module}\n{name}\n");
        _out.Write(bytes);
    }

    private void WriteTensor(Tensor t)
    {
        string storageName = StorageName(t.dtype);
        long numel = t.numel();
        string key = _storeStorage(t);
        WriteGlobal("torch._utils", "_rebuild_tensor_v2");
        _out.WriteByte((byte)'(');
        // persistent id: ('storage', torch.XStorage, key, 'cpu', numel)
        _out.WriteByte((byte)'(');
        WriteString("storage");
        WriteGlobal("torch", storageName);
        WriteString(key);
        WriteString("cpu");
        WriteInt(numel);
        _out.WriteByte((byte)'t');
        _out.WriteByte((byte)'Q'); // BINPERSID
        WriteInt(0); // storage offset
        var shape = t.shape;
        WriteTuple(shape.Select(s => (object?)s).ToArray());
        WriteTuple(ContiguousStrides(shape).Select(s => (object?)s).ToArray());
        Write(false); // requires_grad
        WriteGlobal("collections", "OrderedDict");
        _out.WriteByte((byte)')');
        _out.WriteByte((byte)'R');
        _out.WriteByte((byte)'t');
        _out.WriteByte((byte)'R');
    }

    internal static long[] ContiguousStrides(long[] shape)
    {
        var strides = new long[shape.Length];
        long acc = 1;
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            strides[i] = acc;
            acc *= Math.Max(shape[i], 1);
        }
        return strides;
    }

    internal static string StorageName(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => "FloatStorage",
        ScalarType.Float64 => "DoubleStorage",
        ScalarType.Float16 => "HalfStorage",
        ScalarType.BFloat16 => "BFloat16Storage",
        ScalarType.Int64 => "LongStorage",
        ScalarType.Int32 => "IntStorage",
        ScalarType.Int16 => "ShortStorage",
        ScalarType.Int8 => "CharStorage",
        ScalarType.Byte => "ByteStorage",
        ScalarType.Bool => "BoolStorage",
        ScalarType.ComplexFloat32 => "ComplexFloatStorage",
        ScalarType.ComplexFloat64 => "ComplexDoubleStorage",
        _ => throw new NotSupportedException($"cannot save tensors of type {dtype}"),
    };

    internal static ScalarType? DtypeOfStorage(string name) => name switch
    {
        "FloatStorage" => ScalarType.Float32,
        "DoubleStorage" => ScalarType.Float64,
        "HalfStorage" => ScalarType.Float16,
        "BFloat16Storage" => ScalarType.BFloat16,
        "LongStorage" => ScalarType.Int64,
        "IntStorage" => ScalarType.Int32,
        "ShortStorage" => ScalarType.Int16,
        "CharStorage" => ScalarType.Int8,
        "ByteStorage" => ScalarType.Byte,
        "BoolStorage" => ScalarType.Bool,
        "ComplexFloatStorage" => ScalarType.ComplexFloat32,
        "ComplexDoubleStorage" => ScalarType.ComplexFloat64,
        _ => null,
    };
}
