using System.Buffers.Binary;
using System.Text;

namespace DetSharp.Models.Onnx;

/// <summary>One initializer (a constant tensor) of an ONNX graph: name, shape, element type and values as float.</summary>
public sealed record OnnxTensor(string Name, long[] Dims, int DataType, float[] Data)
{
    /// <summary>ONNX's <c>TensorProto.DataType.FLOAT</c>.</summary>
    public const int Float = 1;

    public long Numel => Dims.Aggregate(1L, (a, b) => a * b);
}

/// <summary>One node of an ONNX graph: operator, inputs, outputs and its attributes (ints, floats, strings).</summary>
public sealed record OnnxNode(string Name, string OpType, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs,
    IReadOnlyDictionary<string, OnnxAttribute> Attributes)
{
    public long[] Ints(string name, long[] fallback) => Attributes.TryGetValue(name, out var a) && a.Ints.Length > 0 ? a.Ints : fallback;

    public long Int(string name, long fallback) => Attributes.TryGetValue(name, out var a) && a.Int is { } i ? i : fallback;

    public float Float(string name, float fallback) => Attributes.TryGetValue(name, out var a) && a.Float is { } f ? f : fallback;

    public override string ToString() => $"{OpType} {Name} ({string.Join(", ", Inputs)}) -> ({string.Join(", ", Outputs)})";
}

/// <summary>An ONNX node attribute: whichever of int, float, string, ints, floats was set.</summary>
public sealed record OnnxAttribute(string Name, long? Int, float? Float, string? String, long[] Ints, float[] Floats);

/// <summary>A graph input or output: name and shape (null dimensions are symbolic).</summary>
public sealed record OnnxValueInfo(string Name, long?[] Shape);

/// <summary>
/// The parts of an ONNX model file DetSharp needs to import weights: the graph's nodes in order, its initializers
/// (float tensors, from <c>raw_data</c> or <c>float_data</c>) and its inputs and outputs. A small protobuf
/// wire-format reader over the <c>onnx.proto</c> field numbers (ModelProto.graph = 7; GraphProto node = 1,
/// initializer = 5, input = 11, output = 12; NodeProto input = 1, output = 2, name = 3, op_type = 4, attribute = 5;
/// TensorProto dims = 1, data_type = 2, float_data = 4, name = 8, raw_data = 9). Tensors stored outside the file
/// (<c>external_data</c>) are not supported.
/// </summary>
public sealed class OnnxModel
{
    private OnnxModel(string producer, List<OnnxNode> nodes, List<OnnxTensor> initializers, List<OnnxValueInfo> inputs, List<OnnxValueInfo> outputs)
    {
        Producer = producer;
        Nodes = nodes;
        Initializers = initializers;
        InitializersByName = initializers.GroupBy(t => t.Name).ToDictionary(g => g.Key, g => g.First());
        Inputs = inputs;
        Outputs = outputs;
    }

    /// <summary>producer_name and producer_version (e.g. "CNTK 2.7").</summary>
    public string Producer { get; }

    public IReadOnlyList<OnnxNode> Nodes { get; }

    public IReadOnlyList<OnnxTensor> Initializers { get; }

    public IReadOnlyDictionary<string, OnnxTensor> InitializersByName { get; }

    public IReadOnlyList<OnnxValueInfo> Inputs { get; }

    public IReadOnlyList<OnnxValueInfo> Outputs { get; }

    /// <summary>Reads an ONNX file; a file that is not one stops with a message naming it.</summary>
    public static OnnxModel Load(string path)
    {
        if (!File.Exists(path)) throw new DetSharpException($"ONNX file not found: {path}");
        try
        {
            return Parse(File.ReadAllBytes(path));
        }
        catch (Exception e) when (e is FormatException or ArgumentOutOfRangeException or IndexOutOfRangeException or OverflowException)
        {
            throw new DetSharpException($"{path} is not a readable ONNX model ({e.Message}).");
        }
    }

    /// <summary>Parses the bytes of an ONNX ModelProto.</summary>
    public static OnnxModel Parse(ReadOnlySpan<byte> bytes)
    {
        string producer = "", version = "";
        var nodes = new List<OnnxNode>();
        var inits = new List<OnnxTensor>();
        var inputs = new List<OnnxValueInfo>();
        var outputs = new List<OnnxValueInfo>();
        bool sawGraph = false;
        var model = new ProtoReader(bytes);
        while (model.Next(out int field, out int wire))
        {
            switch (field)
            {
                case 2 when wire == 2: producer = model.String(); break;
                case 3 when wire == 2: version = model.String(); break;
                case 7 when wire == 2:
                    sawGraph = true;
                    var graph = new ProtoReader(model.Bytes());
                    while (graph.Next(out int gf, out int gw))
                    {
                        if (gw != 2) { graph.Skip(gw); continue; }
                        switch (gf)
                        {
                            case 1: nodes.Add(ReadNode(graph.Bytes())); break;
                            case 5: inits.Add(ReadTensor(graph.Bytes())); break;
                            case 11: inputs.Add(ReadValueInfo(graph.Bytes())); break;
                            case 12: outputs.Add(ReadValueInfo(graph.Bytes())); break;
                            default: graph.Skip(gw); break;
                        }
                    }
                    break;
                default: model.Skip(wire); break;
            }
        }
        if (!sawGraph) throw new FormatException("no graph (ModelProto field 7) found");
        return new OnnxModel((producer + " " + version).Trim(), nodes, inits, inputs, outputs);
    }

    private static OnnxNode ReadNode(ReadOnlySpan<byte> bytes)
    {
        var r = new ProtoReader(bytes);
        var ins = new List<string>();
        var outs = new List<string>();
        var attrs = new Dictionary<string, OnnxAttribute>();
        string name = "", op = "";
        while (r.Next(out int f, out int w))
        {
            if (w != 2) { r.Skip(w); continue; }
            switch (f)
            {
                case 1: ins.Add(r.String()); break;
                case 2: outs.Add(r.String()); break;
                case 3: name = r.String(); break;
                case 4: op = r.String(); break;
                case 5:
                    var a = ReadAttribute(r.Bytes());
                    attrs[a.Name] = a;
                    break;
                default: r.Skip(w); break;
            }
        }
        return new OnnxNode(name, op, ins, outs, attrs);
    }

    private static OnnxAttribute ReadAttribute(ReadOnlySpan<byte> bytes)
    {
        var r = new ProtoReader(bytes);
        string name = "";
        long? i = null;
        float? fl = null;
        string? s = null;
        var ints = new List<long>();
        var floats = new List<float>();
        while (r.Next(out int f, out int w))
        {
            switch (f)
            {
                case 1 when w == 2: name = r.String(); break;
                case 2 when w == 5: fl = r.Fixed32Float(); break;
                case 3 when w == 0: i = (long)r.Varint(); break;
                case 4 when w == 2: s = r.String(); break;
                case 7 when w == 5: floats.Add(r.Fixed32Float()); break;
                case 7 when w == 2: floats.AddRange(ProtoReader.PackedFloats(r.Bytes())); break;
                case 8 when w == 0: ints.Add((long)r.Varint()); break;
                case 8 when w == 2: ints.AddRange(ProtoReader.PackedVarints(r.Bytes())); break;
                default: r.Skip(w); break;
            }
        }
        return new OnnxAttribute(name, i, fl, s, ints.ToArray(), floats.ToArray());
    }

    private static OnnxTensor ReadTensor(ReadOnlySpan<byte> bytes)
    {
        var r = new ProtoReader(bytes);
        var dims = new List<long>();
        int dataType = 0;
        string name = "";
        float[]? raw = null;
        var floatData = new List<float>();
        bool external = false;
        while (r.Next(out int f, out int w))
        {
            switch (f)
            {
                case 1 when w == 0: dims.Add((long)r.Varint()); break;
                case 1 when w == 2: dims.AddRange(ProtoReader.PackedVarints(r.Bytes())); break;
                case 2 when w == 0: dataType = (int)r.Varint(); break;
                case 4 when w == 5: floatData.Add(r.Fixed32Float()); break;
                case 4 when w == 2: floatData.AddRange(ProtoReader.PackedFloats(r.Bytes())); break;
                case 8 when w == 2: name = r.String(); break;
                case 9 when w == 2: raw = ProtoReader.PackedFloats(r.Bytes()); break;
                case 13: external = true; r.Skip(w); break;
                default: r.Skip(w); break;
            }
        }
        if (external) throw new FormatException($"initializer '{name}' is stored in an external file, which is not supported");
        if (dataType != OnnxTensor.Float)
            return new OnnxTensor(name, dims.ToArray(), dataType, []);
        var data = raw ?? floatData.ToArray();
        long numel = dims.Aggregate(1L, (a, b) => a * b);
        if (data.Length != numel) throw new FormatException($"initializer '{name}' has {data.Length} values for shape [{string.Join(", ", dims)}]");
        return new OnnxTensor(name, dims.ToArray(), dataType, data);
    }

    private static OnnxValueInfo ReadValueInfo(ReadOnlySpan<byte> bytes)
    {
        var r = new ProtoReader(bytes);
        string name = "";
        var shape = new List<long?>();
        while (r.Next(out int f, out int w))
        {
            if (f == 1 && w == 2) name = r.String();
            else if (f == 2 && w == 2)
            {
                // TypeProto.tensor_type (1) -> Tensor.shape (2) -> TensorShapeProto.dim (1) -> dim_value (1) | dim_param (2)
                var type = new ProtoReader(r.Bytes());
                while (type.Next(out int tf, out int tw))
                {
                    if (tf != 1 || tw != 2) { type.Skip(tw); continue; }
                    var tensor = new ProtoReader(type.Bytes());
                    while (tensor.Next(out int sf, out int sw))
                    {
                        if (sf != 2 || sw != 2) { tensor.Skip(sw); continue; }
                        var shp = new ProtoReader(tensor.Bytes());
                        while (shp.Next(out int df, out int dw))
                        {
                            if (df != 1 || dw != 2) { shp.Skip(dw); continue; }
                            var dim = new ProtoReader(shp.Bytes());
                            long? value = null;
                            while (dim.Next(out int vf, out int vw))
                            {
                                if (vf == 1 && vw == 0) value = (long)dim.Varint();
                                else dim.Skip(vw);
                            }
                            shape.Add(value);
                        }
                    }
                }
            }
            else r.Skip(w);
        }
        return new OnnxValueInfo(name, shape.ToArray());
    }
}

/// <summary>Protocol buffers wire format, read forward over a byte span.</summary>
internal ref struct ProtoReader(ReadOnlySpan<byte> data)
{
    private readonly ReadOnlySpan<byte> _data = data;
    private int _pos;

    public bool Next(out int field, out int wire)
    {
        if (_pos >= _data.Length)
        {
            field = wire = 0;
            return false;
        }
        ulong key = Varint();
        field = (int)(key >> 3);
        wire = (int)(key & 7);
        return true;
    }

    public ulong Varint()
    {
        ulong result = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            byte b = _data[_pos++];
            result |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return result;
        }
        throw new FormatException("malformed varint");
    }

    public ReadOnlySpan<byte> Bytes()
    {
        int len = checked((int)Varint());
        var s = _data.Slice(_pos, len);
        _pos += len;
        return s;
    }

    public string String() => Encoding.UTF8.GetString(Bytes());

    public float Fixed32Float()
    {
        float v = BinaryPrimitives.ReadSingleLittleEndian(_data.Slice(_pos, 4));
        _pos += 4;
        return v;
    }

    public void Skip(int wire)
    {
        switch (wire)
        {
            case 0: Varint(); break;
            case 1: _pos += 8; break;
            case 2: Bytes(); break;
            case 5: _pos += 4; break;
            default: throw new FormatException($"unsupported wire type {wire}");
        }
        if (_pos > _data.Length) throw new FormatException("truncated message");
    }

    public static float[] PackedFloats(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length % 4 != 0) throw new FormatException("packed float data is not a multiple of 4 bytes");
        var result = new float[bytes.Length / 4];
        for (int i = 0; i < result.Length; i++) result[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.Slice(i * 4, 4));
        return result;
    }

    public static List<long> PackedVarints(ReadOnlySpan<byte> bytes)
    {
        var r = new ProtoReader(bytes);
        var list = new List<long>();
        while (r._pos < bytes.Length) list.Add((long)r.Varint());
        return list;
    }
}
