using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Text;
using static TorchSharp.torch;

namespace DetSharp.Engine.Checkpoints;

/// <summary>
/// Reads Python pickles (protocols 0–5) as <c>torch.load</c> meets them in checkpoints: dicts become <see cref="PyDict"/>,
/// lists <see cref="List{T}"/>, tuples <see cref="PyTuple"/>, ints <see cref="long"/> (or <see cref="BigInteger"/>),
/// floats <see cref="double"/>, str <see cref="string"/>, bytes <see cref="byte"/>[]; <c>torch._utils._rebuild_tensor_v2</c>
/// and <c>_rebuild_parameter</c> become tensors through <see cref="_loadStorage"/> (persistent ids
/// <c>('storage', torch.XStorage, key, location, numel)</c>). Anything else becomes a <see cref="PyObject"/> placeholder.
/// </summary>
internal sealed class PickleReader(Stream input, Func<ScalarType, string, long, Tensor> loadStorage, bool cloneTensors = true)
{
    private static readonly object Mark = new();
    private readonly Stream _in = input;
    private readonly Func<ScalarType, string, long, Tensor> _loadStorage = loadStorage;
    private readonly List<object?> _stack = [];
    private readonly List<int> _marks = [];
    private readonly Dictionary<long, object?> _memo = [];

    public object? Load()
    {
        while (true)
        {
            int op = _in.ReadByte();
            if (op < 0) throw new InvalidDataException("pickle ended before STOP");
            switch (op)
            {
                case 0x80: ReadByte(); break; // PROTO
                case 0x95: ReadBytes(8); break; // FRAME
                case '.': return Pop();
                case 'N': Push(null); break;
                case 0x88: Push(true); break;
                case 0x89: Push(false); break;
                case 'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(ReadBytes(4))); break;
                case 'K': Push((long)ReadByte()); break;
                case 'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(ReadBytes(2))); break;
                case 0x8a: Push(ReadLong(ReadByte())); break; // LONG1
                case 0x8b: Push(ReadLong(BinaryPrimitives.ReadInt32LittleEndian(ReadBytes(4)))); break; // LONG4
                case 'I': Push(ParseIntLine(ReadLine())); break;
                case 'L': Push(ParseIntLine(ReadLine().TrimEnd('L'))); break;
                case 'G': Push(BinaryPrimitives.ReadDoubleBigEndian(ReadBytes(8))); break;
                case 'F': Push(double.Parse(ReadLine(), CultureInfo.InvariantCulture)); break;
                case 'X': Push(Encoding.UTF8.GetString(ReadBytes(BinaryPrimitives.ReadInt32LittleEndian(ReadBytes(4))))); break;
                case 0x8c: Push(Encoding.UTF8.GetString(ReadBytes(ReadByte()))); break; // SHORT_BINUNICODE
                case 0x8d: Push(Encoding.UTF8.GetString(ReadBytes(checked((int)BinaryPrimitives.ReadInt64LittleEndian(ReadBytes(8)))))); break;
                case 'V': Push(ReadLine()); break; // UNICODE (raw-unicode-escape; ASCII in practice)
                case 'S': Push(UnquotePy2String(ReadLine())); break;
                case 'T': Push(Encoding.Latin1.GetString(ReadBytes(BinaryPrimitives.ReadInt32LittleEndian(ReadBytes(4))))); break;
                case 'U': Push(Encoding.Latin1.GetString(ReadBytes(ReadByte()))); break;
                case 'B': Push(ReadBytes(BinaryPrimitives.ReadInt32LittleEndian(ReadBytes(4)))); break;
                case 'C': Push(ReadBytes(ReadByte())); break;
                case 0x8e: Push(ReadBytes(checked((int)BinaryPrimitives.ReadInt64LittleEndian(ReadBytes(8))))); break;
                case 0x96: Push(ReadBytes(checked((int)BinaryPrimitives.ReadInt64LittleEndian(ReadBytes(8))))); break; // BYTEARRAY8
                case '}': Push(new PyDict()); break;
                case 'd': Push(FillDict(new PyDict(), PopMark())); break;
                case ']': Push(new List<object?>()); break;
                case 'l': Push(PopMark()); break;
                case ')': Push(new PyTuple([])); break;
                case 't': Push(new PyTuple(PopMark())); break;
                case 0x85: Push(new PyTuple([Pop()])); break;
                case 0x86: { var b = Pop(); var a = Pop(); Push(new PyTuple([a, b])); break; }
                case 0x87: { var c = Pop(); var b = Pop(); var a = Pop(); Push(new PyTuple([a, b, c])); break; }
                case 0x8f: Push(new List<object?>()); break; // EMPTY_SET (sets read as lists)
                case 0x90: { var items = PopMark(); ((List<object?>)Peek()!).AddRange(items); break; } // ADDITEMS
                case 0x91: Push(PopMark()); break; // FROZENSET
                case '(': _marks.Add(_stack.Count); break;
                case '0': Pop(); break;
                case '1': PopMark(); break;
                case '2': Push(Peek()); break;
                case 'a': { var v = Pop(); ((List<object?>)Peek()!).Add(v); break; }
                case 'e': { var items = PopMark(); ((List<object?>)Peek()!).AddRange(items); break; }
                case 's': { var v = Pop(); var k = Pop(); SetItem(Peek(), k, v); break; }
                case 'u': { var items = PopMark(); var target = Peek(); for (int i = 0; i + 1 < items.Count; i += 2) SetItem(target, items[i], items[i + 1]); break; }
                case 'c': { var module = ReadLine(); var name = ReadLine(); Push(new PyGlobal(module, name)); break; }
                case 0x93: { var name = (string)Pop()!; var module = (string)Pop()!; Push(new PyGlobal(module, name)); break; } // STACK_GLOBAL
                case 'R': { var args = (PyTuple)Pop()!; var callable = Pop(); Push(Call(callable, args)); break; }
                case 0x81: { var args = (PyTuple)Pop()!; var cls = Pop(); Push(Call(cls, args)); break; } // NEWOBJ
                case 0x92: { Pop(); var args = (PyTuple)Pop()!; var cls = Pop(); Push(Call(cls, args)); break; } // NEWOBJ_EX
                case 'b': { var state = Pop(); Push(Build(Pop(), state)); break; }
                case 'Q': Push(PersistentLoad(Pop())); break;
                case 'P': Push(PersistentLoad(ReadLine())); break;
                case 'q': _memo[ReadByte()] = Peek(); break;
                case 'r': _memo[BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4))] = Peek(); break;
                case 'p': _memo[long.Parse(ReadLine(), CultureInfo.InvariantCulture)] = Peek(); break;
                case 0x94: _memo[_memo.Count] = Peek(); break; // MEMOIZE
                case 'h': Push(_memo[ReadByte()]); break;
                case 'j': Push(_memo[BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4))]); break;
                case 'g': Push(_memo[long.Parse(ReadLine(), CultureInfo.InvariantCulture)]); break;
                default:
                    throw new InvalidDataException($"unsupported pickle opcode 0x{op:x2} at byte {_in.Position - 1}");
            }
        }
    }

    private static void SetItem(object? target, object? key, object? value)
    {
        if (target is PyDict dict) dict[key ?? "None"] = value;
        else if (target is PyObject { State: PyDict items }) items[key ?? "None"] = value;
        else throw new InvalidDataException($"SETITEM on a {target?.GetType().Name ?? "None"}");
    }

    private static PyDict FillDict(PyDict dict, List<object?> items)
    {
        for (int i = 0; i + 1 < items.Count; i += 2) dict[items[i] ?? "None"] = items[i + 1];
        return dict;
    }

    private object? Call(object? callable, PyTuple args)
    {
        if (callable is not PyGlobal g)
            throw new InvalidDataException($"pickle calls a {callable?.GetType().Name ?? "None"}, not a global");
        switch ($"{g.Module}.{g.Name}")
        {
            case "collections.OrderedDict":
                var od = new PyDict(isOrderedDict: true);
                if (args.Items.Count > 0 && args.Items[0] is List<object?> pairs)
                    foreach (var pair in pairs.OfType<PyTuple>()) od[pair.Items[0] ?? "None"] = pair.Items[1];
                return od;
            case "torch._utils._rebuild_tensor_v2":
            case "torch._utils._rebuild_tensor":
                return RebuildTensor(args);
            case "torch._utils._rebuild_parameter":
            case "torch._utils._rebuild_parameter_with_state":
                return args.Items[0];
            case "_codecs.encode":
                return Encoding.Latin1.GetBytes((string)args.Items[0]!);
            case "builtins.set":
            case "builtins.frozenset":
            case "builtins.list":
                return args.Items.Count > 0 && args.Items[0] is List<object?> l ? l : new List<object?>();
            case "builtins.tuple":
                return args.Items.Count > 0 && args.Items[0] is List<object?> t ? new PyTuple(t) : new PyTuple([]);
            default:
                return new PyObject(g.Module, g.Name, args, null);
        }
    }

    private static object? Build(object? obj, object? state) => obj switch
    {
        PyDict dict when state is PyDict => dict, // OrderedDict's __dict__ (e.g. state_dict._metadata): not needed
        PyObject o => o with { State = state },
        _ => obj,
    };

    private static object? PersistentLoad(object? pid)
    {
        if (pid is PyTuple { Items.Count: >= 5 } t && t.Items[0] is "storage")
        {
            string storageName = t.Items[1] switch
            {
                PyGlobal g => g.Name,
                string s => s,
                _ => throw new InvalidDataException("unreadable storage type in persistent id"),
            };
            var dtype = PickleWriter.DtypeOfStorage(storageName)
                        ?? throw new InvalidDataException($"unsupported tensor storage type {storageName}");
            string key = Convert.ToString(t.Items[2], CultureInfo.InvariantCulture)!;
            long numel = Convert.ToInt64(t.Items[4], CultureInfo.InvariantCulture);
            return new StorageRef(dtype, key, numel);
        }
        throw new InvalidDataException("unsupported persistent id in pickle (not a torch storage)");
    }

    private Tensor RebuildTensor(PyTuple args)
    {
        if (args.Items.Count < 4 || args.Items[0] is not StorageRef storage)
            throw new InvalidDataException("tensor without a storage in pickle");
        long offset = Convert.ToInt64(args.Items[1], CultureInfo.InvariantCulture);
        var size = ((PyTuple)args.Items[2]!).Items.Select(x => Convert.ToInt64(x, CultureInfo.InvariantCulture)).ToArray();
        var stride = ((PyTuple)args.Items[3]!).Items.Select(x => Convert.ToInt64(x, CultureInfo.InvariantCulture)).ToArray();
        CheckView(storage, offset, size, stride);
        var flat = _loadStorage(storage.Dtype, storage.Key, storage.Numel);
        var view = flat.as_strided(size, stride, offset);
        if (!cloneTensors) return view;
        using (view) return view.clone();
    }

    /// <summary>
    /// The view must lie inside its storage and hold no more elements than it: a zero or overlapping stride would make the
    /// copy below allocate the view's full size from a few stored bytes (a 2 GB tensor from a 573-byte file), and an
    /// offset or extent past the storage would reach libtorch's bounds check with its native stack trace.
    /// </summary>
    private static void CheckView(StorageRef storage, long offset, long[] size, long[] stride)
    {
        string what = $"tensor of size [{string.Join(", ", size)}], stride [{string.Join(", ", stride)}], offset {offset} on storage data/{storage.Key} of {storage.Numel} elements";
        if (size.Length != stride.Length || offset < 0 || size.Any(n => n < 0) || stride.Any(n => n < 0) || storage.Numel < 0)
            throw new InvalidDataException($"{what}: impossible values; the file is crafted or corrupt");
        long numel = 1, last = offset;
        try
        {
            for (int d = 0; d < size.Length; d++)
            {
                numel = checked(numel * size[d]);
                if (size[d] > 0) last = checked(last + (size[d] - 1) * stride[d]);
            }
        }
        catch (OverflowException)
        {
            throw new InvalidDataException($"{what}: sizes overflow; the file is crafted or corrupt");
        }
        if (numel == 0) return;
        if (last >= storage.Numel)
            throw new InvalidDataException($"{what}: it reaches element {last}, outside its storage; the file is crafted or corrupt");
        if (numel > storage.Numel)
            throw new InvalidDataException($"{what}: {numel} elements from a storage of {storage.Numel} (repeating strides); the file is crafted or corrupt");
    }

    private sealed record StorageRef(ScalarType Dtype, string Key, long Numel);

    private void Push(object? value) => _stack.Add(value);

    private object? Pop()
    {
        if (_stack.Count == 0) throw new InvalidDataException("pickle stack underflow");
        var v = _stack[^1];
        _stack.RemoveAt(_stack.Count - 1);
        return v;
    }

    private object? Peek() => _stack.Count > 0 ? _stack[^1] : throw new InvalidDataException("pickle stack underflow");

    private List<object?> PopMark()
    {
        if (_marks.Count == 0) throw new InvalidDataException("pickle MARK missing");
        int at = _marks[^1];
        _marks.RemoveAt(_marks.Count - 1);
        var items = _stack.GetRange(at, _stack.Count - at);
        _stack.RemoveRange(at, _stack.Count - at);
        return items;
    }

    private int ReadByte()
    {
        int b = _in.ReadByte();
        return b < 0 ? throw new InvalidDataException("pickle ended early") : b;
    }

    /// <summary>Reads <paramref name="n"/> bytes, refusing lengths the stream cannot hold before allocating for them.</summary>
    private byte[] ReadBytes(int n)
    {
        if (n < 0 || (_in.CanSeek && n > _in.Length - _in.Position))
            throw new InvalidDataException($"pickle record of {n} bytes runs past the end of the data (truncated, crafted or corrupt)");
        var buf = new byte[n];
        _in.ReadExactly(buf);
        return buf;
    }

    private string ReadLine()
    {
        var sb = new StringBuilder();
        int b;
        while ((b = ReadByte()) != '\n') sb.Append((char)b);
        return sb.ToString();
    }

    private object ReadLong(int n)
    {
        var bytes = ReadBytes(n);
        var big = new BigInteger(bytes, isUnsigned: false, isBigEndian: false);
        return big >= long.MinValue && big <= long.MaxValue ? (object)(long)big : big;
    }

    private static object? ParseIntLine(string s) => s switch
    {
        "01" => true,
        "00" => false,
        _ => long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long v) ? (object)v : BigInteger.Parse(s, CultureInfo.InvariantCulture),
    };

    private static string UnquotePy2String(string s) =>
        s.Length >= 2 && (s[0] == '\'' || s[0] == '"') ? s[1..^1] : s;
}
