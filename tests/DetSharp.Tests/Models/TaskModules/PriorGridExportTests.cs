using DetSharp.Models.Onnx;
using DetSharp.Models.TaskModules;
using DetSharp.Tests.Models.Onnx;
using DetSharp.Tests.TestSupport;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.TaskModules;

/// <summary>
/// The prior generators' grids written into ONNX for a dynamic export (<see cref="AnchorGenerator.ExportGridPriors"/>,
/// <see cref="MlvlPointGenerator.ExportGridPriors"/>): one graph, whose feature map has a symbolic height and width, run
/// in ONNX Runtime at several map sizes (one row, one column, non-square), gives exactly <c>GridPriors</c>' anchors and
/// points, in their order, for a non-square (w, h) stride, a centre offset and both point offsets.
/// </summary>
[Collection(ProcessWideCollection.Name)]
public sealed class PriorGridExportTests
{
    private static readonly (long H, long W)[] Sizes = [(3, 5), (1, 1), (7, 2), (1, 4)];

    public static TheoryData<string> Anchors => ["retina", "center_offset"];

    [Theory]
    [MemberData(nameof(Anchors))]
    public void Anchor_grid_in_the_graph_equals_GridPriors_at_any_map_size(string kind)
    {
        object[] strides = [8L, new List<object?> { 16L, 8L }];
        var generator = kind == "retina"
            ? new AnchorGenerator(strides, [0.5, 1.0, 2.0], octaveBaseScale: 4, scalesPerOctave: 3)
            : new AnchorGenerator(strides, [1.0, 2.0], scales: [8.0], centerOffset: 0.5);
        for (int level = 0; level < 2; level++)
        {
            var graph = new OnnxGraphBuilder("anchors");
            var ctx = new OnnxExportContext(graph, nn.Identity());
            string priors = generator.ExportGridPriors(ctx, graph.Input("feat", 1, 2, "h", "w"), level, "priors");
            graph.Output(priors, "n", 4);
            AssertGridEquals(graph, priors, s => generator.GridPriors(Enumerable.Repeat(s, 2).ToList())[level]);
        }
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.0)]
    public void Point_grid_in_the_graph_equals_GridPriors_at_any_map_size(double offset)
    {
        var generator = new MlvlPointGenerator(new List<object?> { 8L, new List<object?> { 16L, 8L } }, offset);
        for (int level = 0; level < 2; level++)
        {
            var graph = new OnnxGraphBuilder("points");
            var ctx = new OnnxExportContext(graph, nn.Identity());
            string priors = generator.ExportGridPriors(ctx, graph.Input("feat", 1, 2, "h", "w"), level, "priors");
            graph.Output(priors, "n", 2);
            AssertGridEquals(graph, priors, s => generator.GridPriors(Enumerable.Repeat(s, 2).ToList())[level]);
        }
    }

    /// <summary>The graph's priors for a zero map of each size equal <paramref name="expected"/>'s, bit for bit.</summary>
    private static void AssertGridEquals(OnnxGraphBuilder graph, string priors, Func<(long H, long W), Tensor> expected)
    {
        foreach (var size in Sizes)
        {
            using var scope = NewDisposeScope();
            var actual = OrtRun.Run(graph, new Dictionary<string, Tensor> { ["feat"] = zeros(1, 2, size.H, size.W) }, priors)[priors];
            var want = expected(size);
            Assert.Equal(want.shape, actual.shape);
            Assert.Equal(want.data<float>().ToArray(), actual.data<float>().ToArray());
        }
    }
}
