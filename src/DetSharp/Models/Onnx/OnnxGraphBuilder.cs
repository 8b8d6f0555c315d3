using System.Reflection;
using System.Runtime.InteropServices;
using DetSharp.Models.Onnx.Proto;
using Google.Protobuf;
using static TorchSharp.torch;

namespace DetSharp.Models.Onnx;

/// <summary>One dimension of a graph input or output: a fixed size or a symbolic name (e.g. "height").</summary>
public readonly record struct OnnxDim(long? Value, string? Symbol)
{
    public static implicit operator OnnxDim(long value) => new(value, null);

    public static implicit operator OnnxDim(string symbol) => new(null, symbol);
}

/// <summary>
/// Writes an ONNX model through the classes generated from <c>onnx.proto</c>: graph inputs and outputs (fixed or
/// symbolic dimensions), float32 initializers copied from TorchSharp tensors, and nodes of the default ONNX domain in
/// the order they are added (ONNX requires a topologically sorted graph; adding each node after its inputs exist
/// gives one). Value names are made unique, so callers can name values after the modules that produce them.
/// </summary>
public sealed class OnnxGraphBuilder
{
    /// <summary>The opset DetSharp exports by default (ONNX 1.12, supported by every current ONNX Runtime).</summary>
    public const int DefaultOpset = 17;

    // The IR version that ONNX 1.12 writes beside opset 17; runtimes refuse IR versions newer than they know.
    private const long IrVersion = 8;

    private readonly GraphProto _graph;
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _metadata = new(StringComparer.Ordinal);

    public OnnxGraphBuilder(string graphName, int opset = DefaultOpset)
    {
        if (opset < 13) throw new DetSharpException($"ONNX export: opset {opset} is not supported; use 13 or newer (default {DefaultOpset}).");
        _graph = new GraphProto { Name = graphName };
        Opset = opset;
    }

    public int Opset { get; }

    /// <summary>Declares a float32 graph input; returns its name.</summary>
    public string Input(string name, params OnnxDim[] dims)
    {
        Claim(name);
        _graph.Input.Add(ValueInfo(name, dims));
        return name;
    }

    /// <summary>Marks an existing value as a float32 graph output.</summary>
    public void Output(string value, params OnnxDim[] dims) => Output(value, TensorProto.Types.DataType.Float, dims);

    /// <summary>Marks an existing value as a graph output of <paramref name="type"/> (int64 for labels).</summary>
    public void Output(string value, TensorProto.Types.DataType type, params OnnxDim[] dims)
    {
        if (!_names.Contains(value)) throw new DetSharpException($"ONNX export: output '{value}' is not a value of the graph.");
        _graph.Output.Add(ValueInfo(value, dims, type));
    }

    /// <summary>A float32 constant with the tensor's shape and values (copied to the CPU); returns its unique name.</summary>
    public string Initializer(string name, Tensor value)
    {
        using var scope = NewDisposeScope();
        var cpu = value.detach().to(ScalarType.Float32).cpu().contiguous();
        return Initializer(name, cpu.data<float>().ToArray(), cpu.shape);
    }

    /// <summary>A float32 constant from values and shape; returns its unique name.</summary>
    public string Initializer(string name, float[] values, long[] dims) =>
        AddInitializer(name, dims, TensorProto.Types.DataType.Float, MemoryMarshal.AsBytes(values.AsSpan()), values.LongLength);

    /// <summary>An int64 constant (shapes, axes, sizes) from values and shape; returns its unique name.</summary>
    public string Int64Initializer(string name, long[] values, long[] dims) =>
        AddInitializer(name, dims, TensorProto.Types.DataType.Int64, MemoryMarshal.AsBytes(values.AsSpan()), values.LongLength);

    /// <summary>
    /// Adds a node of the default domain with one output, named after <paramref name="name"/> (made unique); returns
    /// the output's name. An empty string in <paramref name="inputs"/> leaves an optional input out, as ONNX specifies.
    /// </summary>
    public string Node(string opType, IReadOnlyList<string> inputs, string name, params AttributeProto[] attributes) =>
        Node(opType, inputs, name, 1, attributes)[0];

    /// <summary>
    /// A node with <paramref name="outputCount"/> outputs (TopK: values and indices), named <paramref name="name"/>,
    /// <c>name_1</c>, ... (made unique); returns the outputs' names.
    /// </summary>
    public string[] Node(string opType, IReadOnlyList<string> inputs, string name, int outputCount, params AttributeProto[] attributes)
    {
        foreach (var input in inputs)
            if (input.Length > 0 && !_names.Contains(input))
                throw new DetSharpException($"ONNX export: input '{input}' of {opType} '{name}' is not a value of the graph yet (nodes must follow their inputs).");
        var outputs = Enumerable.Range(0, outputCount).Select(i => Unique(i == 0 ? name : $"{name}_{i}")).ToArray();
        var node = new NodeProto { Name = outputs[0], OpType = opType };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        node.Attribute.AddRange(attributes);
        _graph.Node.Add(node);
        return outputs;
    }

    /// <summary>A key/value pair of the model's metadata_props (e.g. the preprocessing a runtime must apply).</summary>
    public void Metadata(string key, string value) => _metadata[key] = value;

    public static AttributeProto Attr(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Attr(string name, float value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    public static AttributeProto Attr(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    public static AttributeProto Attr(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    public static AttributeProto Attr(string name, params float[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Floats };
        a.Floats.AddRange(values);
        return a;
    }

    /// <summary>The model: this graph, the opset import and the metadata, produced by DetSharp.</summary>
    public ModelProto Build()
    {
        var model = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = "DetSharp",
            ProducerVersion = typeof(OnnxGraphBuilder).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "",
            Graph = _graph.Clone(),
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        foreach (var (key, value) in _metadata) model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        return model;
    }

    public byte[] ToBytes() => Build().ToByteArray();

    public void Save(string path) => File.WriteAllBytes(path, ToBytes());

    private string AddInitializer(string name, long[] dims, TensorProto.Types.DataType type, ReadOnlySpan<byte> raw, long count)
    {
        long numel = dims.Aggregate(1L, (a, b) => a * b);
        if (numel != count) throw new DetSharpException($"ONNX export: initializer '{name}' has {count} values for shape [{string.Join(", ", dims)}].");
        string unique = Unique(name);
        var t = new TensorProto { Name = unique, DataType = (int)type, RawData = ByteString.CopyFrom(raw) };
        t.Dims.AddRange(dims);
        _graph.Initializer.Add(t);
        return unique;
    }

    private void Claim(string name)
    {
        if (!_names.Add(name)) throw new DetSharpException($"ONNX export: the graph already has a value named '{name}'.");
    }

    private string Unique(string name)
    {
        string candidate = name;
        for (int i = 1; !_names.Add(candidate); i++) candidate = $"{name}_{i}";
        return candidate;
    }

    private static ValueInfoProto ValueInfo(string name, OnnxDim[] dims, TensorProto.Types.DataType type = TensorProto.Types.DataType.Float)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d.Symbol is { } s ? new TensorShapeProto.Types.Dimension { DimParam = s } : new TensorShapeProto.Types.Dimension { DimValue = d.Value ?? 0 });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }
}
