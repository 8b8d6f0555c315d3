using DetSharp.Models.Onnx.Proto;
using TorchSharp;
using TorchSharp.Modules;
using static DetSharp.Models.Onnx.OnnxGraphBuilder;
using static TorchSharp.torch;

namespace DetSharp.Models.Onnx;

/// <summary>
/// The state of one module-tree export: the graph being written and every module's path in the exported model, so that
/// a weight becomes an initializer named by its state-dict key (<c>backbone.layer1.0.conv1.weight</c>) and a shared
/// module (a head's towers, run on every level) writes its weights once. Holds the writers of TorchSharp's own layers
/// (Conv2d, BatchNorm2d, GroupNorm, Linear, pooling, ReLU) and of the element-wise and shape operators the modules'
/// exports use; a module DetSharp defines writes itself (<see cref="IOnnxExportable"/>).
/// </summary>
public sealed class OnnxExportContext
{
    private readonly Dictionary<nn.Module, string> _paths = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<string, string> _initializers = new(StringComparer.Ordinal);

    /// <param name="graph">The graph to write into.</param>
    /// <param name="root">The exported model (a detector), whose <c>named_modules</c> give the state-dict paths.</param>
    public OnnxExportContext(OnnxGraphBuilder graph, nn.Module root)
    {
        Graph = graph;
        _paths[root] = "";
        foreach (var (name, module) in root.named_modules()) _paths.TryAdd(module, name);
    }

    public OnnxGraphBuilder Graph { get; }

    /// <summary>The module's state-dict path in the exported model ("" for the model itself).</summary>
    public string PathOf(nn.Module module) =>
        _paths.TryGetValue(module, out var path) ? path
            : throw new DetSharpException($"ONNX export: a {module.GetType().Name} is not part of the exported model (it is not among its named_modules).");

    /// <summary>What to do about a module the exporter cannot write at all.</summary>
    public const string DefaultRemedy = "Export a model without it, or run it with the libtorch backend.";

    /// <summary>What to do about a module the exporter can write for a fixed input size only.</summary>
    public const string DynamicRemedy = "Export without --dynamic (a fixed input size, --shape H W), where its sizes are constants.";

    /// <summary>The error for a module the exporter cannot write: its type, its path, what to do.</summary>
    public DetSharpException Unsupported(nn.Module module, string? detail = null, string remedy = DefaultRemedy)
    {
        string path = _paths.TryGetValue(module, out var p) ? p : "?";
        return new DetSharpException(
            $"ONNX export: {module.GetType().Name} at '{(path.Length == 0 ? "(model)" : path)}' is not supported{(detail is null ? "" : $" ({detail})")}. {remedy}");
    }

    /// <summary>
    /// Refuses <paramref name="module"/> when a subclass overrides its forward step <paramref name="forwardMethod"/>
    /// below the class that wrote <paramref name="exportMethod"/>: the export would write the base class's computation,
    /// not the one the model runs.
    /// </summary>
    public void RequireExportOf(nn.Module module, string forwardMethod, string exportMethod, string remedy = DefaultRemedy)
    {
        var forwardOwner = MostDerivedDeclaringType(module.GetType(), forwardMethod);
        var exportOwner = MostDerivedDeclaringType(module.GetType(), exportMethod);
        if (forwardOwner is not null && exportOwner is not null && forwardOwner != exportOwner && forwardOwner.IsSubclassOf(exportOwner))
            throw Unsupported(module, $"{forwardOwner.Name}.{forwardMethod} has no ONNX export ({exportOwner.Name}.{exportMethod} writes its base class's)", remedy);
    }

    private static Type? MostDerivedDeclaringType(Type type, string method)
    {
        for (var t = type; t is not null; t = t.BaseType)
        {
            if (t.GetMethods(System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic
                             | System.Reflection.BindingFlags.DeclaredOnly).Any(m => m.Name == method && !m.IsAbstract))
                return t;
        }
        return null;
    }

    /// <summary>A name for a value produced by <paramref name="module"/> (its path, made unique by the graph).</summary>
    public string ValueName(nn.Module module, string? suffix = null)
    {
        string path = PathOf(module);
        string name = suffix is null ? path : path.Length == 0 ? suffix : $"{path}.{suffix}";
        return name.Length == 0 ? "model" : name;
    }

    /// <summary>
    /// The initializer of <paramref name="module"/>'s weight <paramref name="key"/> (named <c>path.key</c>, its state-dict
    /// key), written once however often the module runs.
    /// </summary>
    public string Weight(nn.Module module, string key, Tensor value)
    {
        string name = ValueName(module, key);
        if (!_initializers.TryGetValue(name, out var written))
        {
            written = Graph.Initializer(name, value);
            _initializers[name] = written;
        }
        return written;
    }

    /// <summary>A float32 constant (anchors, scales) computed at export time.</summary>
    public string Constant(string name, Tensor value) => Graph.Initializer(name, value);

    /// <summary>An int64 constant (shapes, axes, sizes): a vector, or a scalar when <paramref name="scalar"/>.</summary>
    public string Int64s(string name, long[] values, bool scalar = false) => Graph.Int64Initializer(name, values, scalar ? [] : [values.Length]);

    /// <summary>A float32 scalar constant.</summary>
    public string Scalar(string name, float value) => Graph.Initializer(name, [value], []);

    /// <summary>Runs <paramref name="module"/> on one value and returns its one output.</summary>
    public string Forward(nn.Module module, string x)
    {
        var outs = Forward(module, [x]);
        return outs.Count == 1 ? outs[0] : throw new DetSharpException($"ONNX export: {module.GetType().Name} at '{PathOf(module)}' returns {outs.Count} values, not one.");
    }

    /// <summary>
    /// Runs <paramref name="module"/>: its own export when it implements <see cref="IOnnxExportable"/>, else TorchSharp's
    /// layers DetSharp uses (Conv2d, BatchNorm2d and SyncBatchNorm, GroupNorm, Linear, ReLU, MaxPool2d, AvgPool2d, Identity, Sequential);
    /// anything else is refused naming its type and path.
    /// </summary>
    public IReadOnlyList<string> Forward(nn.Module module, IReadOnlyList<string> inputs)
    {
        if (module is IOnnxExportable exportable) return exportable.ExportOnnx(this, inputs);
        if (inputs.Count != 1) throw Unsupported(module, $"{inputs.Count} inputs");
        string x = inputs[0];
        return module switch
        {
            Conv2d conv => [Conv2d(conv, x)],
            // BatchNorm2d, and SyncBN / MMSyncBN, which are BatchNorm in eval mode (MMDeploy exports them as BN).
            TorchSharp.Modules.BatchNorm bn => [BatchNorm(bn, x)],
            GroupNorm gn => [GroupNorm(gn, x)],
            Linear linear => [Linear(linear, x)],
            ReLU => [Relu(x, ValueName(module))],
            Identity => [x],
            MaxPool2d pool => [MaxPool(x, ValueName(module), Pair(pool.kernel_size, module), Pair(pool.stride ?? pool.kernel_size, module),
                Pair(pool.padding ?? [0], module), pool.ceil_mode, Pair(pool.dilation ?? [1], module))],
            AvgPool2d pool => [AvgPool(pool, x)],
            Sequential seq => [seq.children().Aggregate(x, (h, child) => Forward(child, h))],
            _ => throw Unsupported(module),
        };
    }

    /// <summary>A <c>Conv</c> with the layer's weight, bias, stride, padding, dilation and groups (zero padding only).</summary>
    public string Conv2d(Conv2d conv, string x)
    {
        if (conv.padding_mode != PaddingModes.Zeros) throw Unsupported(conv, $"padding_mode {conv.padding_mode}");
        if (conv.padding_type is not null) throw Unsupported(conv, "padding given as 'same'/'valid'");
        long[] kernel = Pair(conv.kernel_size, conv), stride = Pair(conv.stride, conv), dilation = Pair(conv.dilation, conv);
        long[] pad = Pair(conv.padding ?? [0], conv);
        var inputs = new List<string> { x, Weight(conv, "weight", conv.weight!) };
        if (conv.bias is { } bias) inputs.Add(Weight(conv, "bias", bias));
        return Graph.Node("Conv", inputs, ValueName(conv), Attr("kernel_shape", kernel), Attr("strides", stride),
            Attr("pads", pad[0], pad[1], pad[0], pad[1]), Attr("dilations", dilation), Attr("group", conv.groups));
    }

    /// <summary>An eval-mode BatchNorm2d or SyncBatchNorm (running statistics) as ONNX's <c>BatchNormalization</c>.</summary>
    public string BatchNorm(TorchSharp.Modules.BatchNorm bn, string x)
    {
        if (bn.running_mean is null || bn.running_var is null) throw Unsupported(bn, "track_running_stats=False");
        using var scope = NewDisposeScope();
        long c = bn.running_mean.shape[0];
        // affine=False has no weight and bias: BatchNormalization still needs a scale and a bias, 1 and 0.
        string scale = bn.weight is { } w ? Weight(bn, "weight", w) : Constant(ValueName(bn, "ones"), ones(c));
        string shift = bn.bias is { } b ? Weight(bn, "bias", b) : Constant(ValueName(bn, "zeros"), zeros(c));
        return Graph.Node("BatchNormalization",
            [x, scale, shift, Weight(bn, "running_mean", bn.running_mean), Weight(bn, "running_var", bn.running_var)],
            ValueName(bn), Attr("epsilon", (float)bn.eps));
    }

    /// <summary>
    /// GroupNorm, written as PyTorch's exporter does for opsets before 18: the input reshaped to [N, groups, -1],
    /// <c>InstanceNormalization</c> (unit scale, zero bias), the shape restored, then the per-channel affine.
    /// </summary>
    public string GroupNorm(GroupNorm gn, string x)
    {
        using var scope = NewDisposeScope();
        long groups = gn.num_groups;
        string name = ValueName(gn);
        string grouped = Graph.Node("Reshape", [x, Int64s(name + ".grouped_shape", [0, groups, -1])], name + ".grouped");
        string normed = Graph.Node("InstanceNormalization",
            [grouped, Constant(name + ".unit_scale", ones(groups)), Constant(name + ".zero_bias", zeros(groups))], name + ".normed",
            Attr("epsilon", (float)gn.eps));
        string y = Graph.Node("Reshape", [normed, Graph.Node("Shape", [x], name + ".shape")], name + ".ungrouped");
        if (gn.weight is null) return y;
        long c = gn.weight.shape[0];
        string scale = Graph.Node("Reshape", [Weight(gn, "weight", gn.weight), Int64s(name + ".affine_shape", [c, 1, 1])], name + ".scale");
        y = Graph.Node("Mul", [y, scale], name + ".scaled");
        if (gn.bias is null) return y;
        string shift = Graph.Node("Reshape", [Weight(gn, "bias", gn.bias), Int64s(name + ".affine_shape", [c, 1, 1])], name + ".shift");
        return Graph.Node("Add", [y, shift], name);
    }

    /// <summary>A Linear layer as <c>Gemm</c> (y = x·Wᵀ + b) on a [N, in] input.</summary>
    public string Linear(Linear linear, string x)
    {
        var inputs = new List<string> { x, Weight(linear, "weight", linear.weight!) };
        if (linear.bias is { } bias) inputs.Add(Weight(linear, "bias", bias));
        return Graph.Node("Gemm", inputs, ValueName(linear), Attr("transB", 1L));
    }

    private string AvgPool(AvgPool2d pool, string x)
    {
        if (pool.divisor_override is not null) throw Unsupported(pool, "divisor_override");
        long[] kernel = Pair(pool.kernel_size, pool), stride = Pair(pool.stride ?? pool.kernel_size, pool), pad = Pair(pool.padding ?? [0], pool);
        return Graph.Node("AveragePool", [x], ValueName(pool), Attr("kernel_shape", kernel), Attr("strides", stride),
            Attr("pads", pad[0], pad[1], pad[0], pad[1]), Attr("ceil_mode", pool.ceil_mode ? 1L : 0L),
            Attr("count_include_pad", pool.count_include_pad ? 1L : 0L));
    }

    /// <summary>Max pooling (torch's <c>max_pool2d</c>: symmetric padding, floor or ceil output size).</summary>
    public string MaxPool(string x, string name, long[] kernel, long[] stride, long[] padding, bool ceilMode = false, long[]? dilation = null) =>
        Graph.Node("MaxPool", [x], name, Attr("kernel_shape", kernel), Attr("strides", stride),
            Attr("pads", padding[0], padding[1], padding[0], padding[1]), Attr("ceil_mode", ceilMode ? 1L : 0L), Attr("dilations", dilation ?? [1, 1]));

    /// <summary>
    /// mmcv's <c>batched_nms</c> with <c>nms_cfg</c> (type 'nms', offset 0) as ONNX's <c>NonMaxSuppression</c>: class-aware
    /// by the same offset trick (boxes + label · (max coordinate + 1), in float32), or class-agnostic when
    /// <paramref name="labels"/> is null or the config says so; at most <paramref name="maxNum"/> kept. Returns the kept
    /// indices [M] into <paramref name="boxes"/> [K, 4] / <paramref name="scores"/> [K], score descending, as mmcv's keep.
    /// </summary>
    public string BatchedNms(string boxes, string scores, string? labels, Ops.NmsConfig nms, long maxNum, string name)
    {
        if (nms.Type != "nms") throw new DetSharpException($"ONNX export: {name}: nms type '{nms.Type}' has no ONNX form; use type='nms'.");
        if (nms.Offset != 0 || nms.ScoreThreshold != 0 || nms.MaxNum != -1)
            throw new DetSharpException($"ONNX export: {name}: nms offset, score_threshold and max_num must keep their defaults (0, 0, -1) for ONNX's NonMaxSuppression.");
        string nmsBoxes = boxes;
        if (labels is not null && nms.ClassAgnostic != true)
        {
            string max = Graph.Node("ReduceMax", [boxes], name + ".max_coordinate", Attr("keepdims", 0L));
            string step = Add(max, Scalar(name + ".one", 1f), name + ".step");
            string offsets = Mul(Graph.Node("Cast", [labels], name + ".labels_float", Attr("to", (long)TensorProto.Types.DataType.Float)), step, name + ".offsets");
            nmsBoxes = Add(boxes, Graph.Node("Unsqueeze", [offsets, Int64s(name + ".axis1", [1])], name + ".offsets_col"), name + ".offset_boxes");
        }
        string batched = Graph.Node("Unsqueeze", [nmsBoxes, Int64s(name + ".axis0", [0])], name + ".boxes");
        string classScores = Reshape(scores, name + ".scores", 1, 1, -1);
        string selected = Graph.Node("NonMaxSuppression",
            [batched, classScores, Int64s(name + ".max_output", [maxNum]), Graph.Initializer(name + ".iou_threshold", [(float)nms.IouThreshold], [1])],
            name + ".selected");
        return Graph.Node("Gather", [selected, Int64s(name + ".box_column", [2], scalar: true)], name, Attr("axis", 1L));
    }

    /// <summary>torch's <c>F.pad</c> of the last two dimensions by (left, right, top, bottom) with a constant.</summary>
    public string Pad(string x, string name, long[] leftRightTopBottom, float value = 0f)
    {
        var (l, r, t, b) = (leftRightTopBottom[0], leftRightTopBottom[1], leftRightTopBottom[2], leftRightTopBottom[3]);
        return Graph.Node("Pad", [x, Int64s(name + ".pads", [0, 0, t, l, 0, 0, b, r]), Scalar(name + ".value", value)], name, Attr("mode", "constant"));
    }

    public string Relu(string x, string name) => Graph.Node("Relu", [x], name);

    /// <summary>ReLU6 as <c>Clip(0, 6)</c>.</summary>
    public string Relu6(string x, string name) => Graph.Node("Clip", [x, Scalar(name + ".min", 0f), Scalar(name + ".max", 6f)], name);

    /// <summary>Swish / SiLU: x·sigmoid(x).</summary>
    public string Swish(string x, string name) => Graph.Node("Mul", [x, Graph.Node("Sigmoid", [x], name + ".sigmoid")], name);

    public string Sigmoid(string x, string name) => Graph.Node("Sigmoid", [x], name);

    public string Softmax(string x, string name, long axis) => Graph.Node("Softmax", [x], name, Attr("axis", axis));

    public string Add(string a, string b, string name) => Graph.Node("Add", [a, b], name);

    public string Sub(string a, string b, string name) => Graph.Node("Sub", [a, b], name);

    public string Mul(string a, string b, string name) => Graph.Node("Mul", [a, b], name);

    public string Div(string a, string b, string name) => Graph.Node("Div", [a, b], name);

    public string Concat(IReadOnlyList<string> values, string name, long axis) => Graph.Node("Concat", values, name, Attr("axis", axis));

    /// <summary><c>Reshape</c> to a fixed shape (0 copies the input's dimension, -1 is inferred, as ONNX and torch's view).</summary>
    public string Reshape(string x, string name, params long[] shape) => Graph.Node("Reshape", [x, Int64s(name + ".shape", shape)], name);

    /// <summary>torch's <c>flatten(start_dim)</c> to two dimensions, as before a Linear layer.</summary>
    public string Flatten(string x, string name, long axis = 1) => Graph.Node("Flatten", [x], name, Attr("axis", axis));

    public string Transpose(string x, string name, params long[] perm) => Graph.Node("Transpose", [x], name, Attr("perm", perm));

    /// <summary>
    /// torch's <c>F.interpolate(x, scale_factor=s, mode)</c> (nearest: floor(out / s), ONNX's asymmetric coordinates;
    /// bilinear: half-pixel or align_corners).
    /// </summary>
    public string Resize(string x, string name, double scaleFactor, string mode = "nearest", bool alignCorners = false) =>
        Graph.Node("Resize", [x, "", Graph.Initializer(name + ".scales", [1f, 1f, (float)scaleFactor, (float)scaleFactor], [4])], name, ResizeAttrs(mode, alignCorners));

    /// <summary>torch's <c>F.interpolate(x, size=like.shape[2:], mode)</c>: the output size read from <paramref name="like"/> in the graph.</summary>
    public string ResizeLike(string x, string like, string name, string mode = "nearest", bool alignCorners = false)
    {
        string batchChannels = Graph.Node("Slice", [Graph.Node("Shape", [x], name + ".in_shape"), Int64s(name + ".0", [0]), Int64s(name + ".2", [2])],
            name + ".nc");
        string hw = Graph.Node("Slice", [Graph.Node("Shape", [like], name + ".like_shape"), Int64s(name + ".2b", [2]), Int64s(name + ".4", [4])], name + ".hw");
        string sizes = Concat([batchChannels, hw], name + ".sizes", 0);
        return Graph.Node("Resize", [x, "", "", sizes], name, ResizeAttrs(mode, alignCorners));
    }

    private static AttributeProto[] ResizeAttrs(string mode, bool alignCorners) => mode switch
    {
        // PyTorch's 'nearest' takes floor(out_index / scale): ONNX's asymmetric coordinates with nearest_mode floor.
        "nearest" => [Attr("mode", "nearest"), Attr("coordinate_transformation_mode", "asymmetric"), Attr("nearest_mode", "floor")],
        "bilinear" => [Attr("mode", "linear"), Attr("coordinate_transformation_mode", alignCorners ? "align_corners" : "pytorch_half_pixel")],
        _ => throw new DetSharpException($"ONNX export: interpolation mode '{mode}' is not supported (nearest or bilinear)."),
    };

    private long[] Pair(long[] values, nn.Module module) => values.Length switch
    {
        1 => [values[0], values[0]],
        2 => values,
        _ => throw Unsupported(module, $"{values.Length} spatial dimensions"),
    };
}
