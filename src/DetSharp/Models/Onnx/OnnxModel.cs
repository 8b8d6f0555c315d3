using System.Runtime.InteropServices;
using DetSharp.Models.Onnx.Proto;
using Google.Protobuf;

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
/// (float tensors, from <c>raw_data</c> or <c>float_data</c>) and its inputs and outputs, read through the classes
/// generated from <c>onnx.proto</c> (<see cref="ModelProto"/>; the same ones <see cref="OnnxGraphBuilder"/> writes).
/// Tensors stored outside the file (<c>external_data</c>) are not supported.
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
        catch (Exception e) when (e is InvalidProtocolBufferException or FormatException)
        {
            throw new DetSharpException($"{path} is not a readable ONNX model ({e.Message}).");
        }
    }

    /// <summary>Parses the bytes of an ONNX ModelProto.</summary>
    public static OnnxModel Parse(ReadOnlySpan<byte> bytes) => FromProto(ModelProto.Parser.ParseFrom(bytes));

    /// <summary>The records of a parsed (or built) <see cref="ModelProto"/>.</summary>
    public static OnnxModel FromProto(ModelProto model)
    {
        var graph = model.Graph ?? throw new FormatException("no graph (ModelProto field 7) found");
        return new OnnxModel((model.ProducerName + " " + model.ProducerVersion).Trim(),
            graph.Node.Select(ReadNode).ToList(),
            graph.Initializer.Select(ReadTensor).ToList(),
            graph.Input.Select(ReadValueInfo).ToList(),
            graph.Output.Select(ReadValueInfo).ToList());
    }

    private static OnnxNode ReadNode(NodeProto node)
    {
        var attrs = new Dictionary<string, OnnxAttribute>();
        foreach (var a in node.Attribute) attrs[a.Name] = ReadAttribute(a);
        return new OnnxNode(node.Name, node.OpType, node.Input.ToList(), node.Output.ToList(), attrs);
    }

    // proto3 has no field presence: the attribute's declared type says which value it carries.
    private static OnnxAttribute ReadAttribute(AttributeProto a) => new(a.Name,
        a.Type == AttributeProto.Types.AttributeType.Int ? a.I : null,
        a.Type == AttributeProto.Types.AttributeType.Float ? a.F : null,
        a.Type == AttributeProto.Types.AttributeType.String ? a.S.ToStringUtf8() : null,
        a.Ints.ToArray(), a.Floats.ToArray());

    private static OnnxTensor ReadTensor(TensorProto t)
    {
        if (t.DataLocation == TensorProto.Types.DataLocation.External || t.ExternalData.Count > 0)
            throw new FormatException($"initializer '{t.Name}' is stored in an external file, which is not supported");
        var dims = t.Dims.ToArray();
        if (t.DataType != OnnxTensor.Float) return new OnnxTensor(t.Name, dims, t.DataType, []);
        float[] data;
        if (!t.RawData.IsEmpty)
        {
            // raw_data is little-endian, as is every platform .NET runs DetSharp on.
            if (t.RawData.Length % 4 != 0) throw new FormatException($"initializer '{t.Name}' has raw data that is not a multiple of 4 bytes");
            data = MemoryMarshal.Cast<byte, float>(t.RawData.Span).ToArray();
        }
        else data = t.FloatData.ToArray();
        long numel = dims.Aggregate(1L, (a, b) => a * b);
        if (data.Length != numel) throw new FormatException($"initializer '{t.Name}' has {data.Length} values for shape [{string.Join(", ", dims)}]");
        return new OnnxTensor(t.Name, dims, t.DataType, data);
    }

    private static OnnxValueInfo ReadValueInfo(ValueInfoProto v)
    {
        var dims = v.Type?.TensorType?.Shape?.Dim;
        long?[] shape = dims is null ? [] : dims.Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? d.DimValue : (long?)null).ToArray();
        return new OnnxValueInfo(v.Name, shape);
    }
}
