using System.Diagnostics;
using System.Globalization;
using DetSharp.Ops;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Benchmarks;

/// <summary>Tensor-op baselines the ops suite measures DetSharp against, in the same run.</summary>
/// <param name="NmsName">Label of the NMS baseline.</param>
/// <param name="Nms">(boxes, scores, iou_threshold) -> kept indices.</param>
/// <param name="BoxIouName">Label of the pairwise IoU baseline.</param>
/// <param name="BoxIou">(boxes1, boxes2) -> [N, M] IoU.</param>
public sealed record OpsBaselines(string NmsName, Func<Tensor, Tensor, double, Tensor> Nms, string BoxIouName, Func<Tensor, Tensor, Tensor> BoxIou)
{
    /// <summary>Baselines written with TorchSharp tensor ops only (used when no other package is referenced).</summary>
    public static OpsBaselines TensorOps { get; } = new("tensor-op nms loop", TensorOpNms, "tensor-op box_iou", TensorOpBoxIou);

    /// <summary>Greedy NMS as a loop of tensor calls (the shape of TorchVision.NET's nms).</summary>
    public static Tensor TensorOpNms(Tensor boxes, Tensor scores, double iouThreshold)
    {
        using var scope = NewDisposeScope();
        var order = scores.argsort(descending: true);
        var keep = new List<long>();
        while (order.numel() > 0)
        {
            var i = order[0];
            keep.Add(i.item<long>());
            if (order.numel() == 1)
            {
                break;
            }

            var rest = order[1..];
            var iou = TensorOpBoxIou(boxes[i].unsqueeze(0), boxes.index_select(0, rest))[0];
            order = rest.masked_select(iou <= iouThreshold);
        }

        return tensor(keep.ToArray()).MoveToOuterDisposeScope();
    }

    /// <summary>Pairwise IoU with broadcast tensor ops.</summary>
    public static Tensor TensorOpBoxIou(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        var areaA = (a[.., 2] - a[.., 0]) * (a[.., 3] - a[.., 1]);
        var areaB = (b[.., 2] - b[.., 0]) * (b[.., 3] - b[.., 1]);
        var lt = maximum(a[.., ..2].unsqueeze(1), b[.., ..2]);
        var rb = minimum(a[.., 2..].unsqueeze(1), b[.., 2..]);
        var wh = (rb - lt).clamp_min(0);
        var inter = wh[.., .., 0] * wh[.., .., 1];
        return (inter / (areaA.unsqueeze(1) + areaB - inter)).MoveToOuterDisposeScope();
    }
}

/// <summary>Options of the ops suite.</summary>
/// <param name="Repetitions">Timed runs per case (the median is reported).</param>
/// <param name="Warmup">Untimed runs per case.</param>
/// <param name="Filter">Only cases whose name contains this text (case-insensitive); null = all.</param>
/// <param name="Baselines">Baselines to compare with; null = <see cref="OpsBaselines.TensorOps"/>.</param>
public sealed record OpsBenchmarkOptions(int Repetitions = 5, int Warmup = 1, string? Filter = null, OpsBaselines? Baselines = null);

/// <summary>One measured case: DetSharp's median and the baseline's median, in milliseconds.</summary>
public sealed record OpsBenchmarkResult(string Case, string Baseline, double DetSharpMs, double BaselineMs)
{
    /// <summary>Baseline time / DetSharp time (above 1 = DetSharp faster).</summary>
    public double Speedup => BaselineMs / DetSharpMs;
}

/// <summary>
/// The <c>ops</c> benchmark suite: RoIAlign (512 RoIs x 256 channels from a 200x304 map, 7x7 and 14x14, sampling 0
/// and 2, forward and forward+backward) against the grid_sample formulation; NMS on 1,000 and 4,000 heavily
/// overlapping boxes and bbox_overlaps 2,000 x 100 against the given baselines; DCN and DCNv2 (forward and
/// forward+backward) at ResNet-50's c3-c5 sizes for a 1333x800 input against the grid_sample formulation. Inputs are deterministic formulas
/// (no RNG), reproduced by <c>bench/ops_torchvision.py</c> for native torchvision timings.
/// </summary>
public static class OpsBenchmark
{
    /// <summary>Runs the suite, writes a Markdown table to <paramref name="output"/>, and returns the results.</summary>
    public static IReadOnlyList<OpsBenchmarkResult> Run(TextWriter output, OpsBenchmarkOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(output);
        options ??= new OpsBenchmarkOptions();
        var baselines = options.Baselines ?? OpsBaselines.TensorOps;
        var results = new List<OpsBenchmarkResult>();
        output.WriteLine($"DetSharp ops benchmark: {Environment.ProcessorCount} cores, torch threads {get_num_threads()}, {options.Repetitions} runs (median), {options.Warmup} warm-up");
        output.WriteLine();
        output.WriteLine("| case | DetSharp ms | baseline | baseline ms | speed-up |");
        output.WriteLine("|---|---:|---|---:|---:|");

        bool Wanted(string name) => options.Filter is null || name.Contains(options.Filter, StringComparison.OrdinalIgnoreCase);

        void Report(string name, string baselineName, Action ours, Action baseline)
        {
            if (!Wanted(name))
            {
                return;
            }

            var ms = Median(ours, options.Repetitions, options.Warmup);
            var baseMs = Median(baseline, options.Repetitions, options.Warmup);
            var r = new OpsBenchmarkResult(name, baselineName, ms, baseMs);
            results.Add(r);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {ms:F1} | {baselineName} | {baseMs:F1} | {r.Speedup:F2}x |"));
            output.Flush();
        }

        using (var scope = NewDisposeScope())
        {
            var feature = RoIAlignFeature();
            var rois = RoIAlignRois();
            foreach (var size in new[] { 7, 14 })
            {
                foreach (var sampling in new[] { 0, 2 })
                {
                    var o = new RoIAlignOptions(size, size, 0.25f, sampling, RoIAlignPoolMode.Avg, true);
                    var label = $"RoIAlign {size}x{size} sampling {sampling}";
                    Report($"{label} forward", "grid_sample RoIAlign",
                        () => Forward(feature, rois, o, RoIAlign.Apply), () => Forward(feature, rois, o, RoIAlignGridSample.Apply));
                    Report($"{label} fwd+bwd", "grid_sample RoIAlign",
                        () => ForwardBackward(feature, rois, o, RoIAlign.Apply), () => ForwardBackward(feature, rois, o, RoIAlignGridSample.Apply));
                }
            }

            foreach (var n in new[] { 1000, 4000 })
            {
                var (boxes, scores) = NmsInputs(n);
                Report($"NMS {n:N0} boxes", baselines.NmsName,
                    () => { using var s = NewDisposeScope(); Nms.NmsIndices(boxes, scores, 0.5); },
                    () => { using var s = NewDisposeScope(); baselines.Nms(boxes, scores, 0.5); });
            }

            foreach (var (stage, channels, h, w) in DeformConvLayers)
            {
                var (x, offset, mask, weight) = DeformConvInputs(channels, h, w);
                var geometry = new DeformConvGeometry((1, 1), (1, 1), (1, 1));
                foreach (var modulated in new[] { false, true })
                {
                    var m = modulated ? mask : null;
                    var label = $"{(modulated ? "DCNv2" : "DCN")} ResNet-50 {stage} {channels}ch {h}x{w}";
                    Report($"{label} forward", "grid_sample DCN",
                        () => DeformConvForward(x, offset, m, weight, geometry, DeformConv.Apply),
                        () => DeformConvForward(x, offset, m, weight, geometry, DeformConv.ApplyGridSample));
                    Report($"{label} fwd+bwd", "grid_sample DCN",
                        () => DeformConvForwardBackward(x, offset, m, weight, geometry, DeformConv.Apply),
                        () => DeformConvForwardBackward(x, offset, m, weight, geometry, DeformConv.ApplyGridSample));
                }
            }

            var b1 = OverlapBoxes(2000, 0);
            var b2 = OverlapBoxes(100, 7);
            Report("bbox_overlaps 2,000 x 100 (iou)", baselines.BoxIouName,
                () => { using var s = NewDisposeScope(); BboxOverlaps.Compute(b1, b2); },
                () => { using var s = NewDisposeScope(); baselines.BoxIou(b1, b2); });
        }

        return results;
    }

    private static void Forward(Tensor feature, Tensor rois, RoIAlignOptions o, Func<Tensor, Tensor, RoIAlignOptions, Tensor> op)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        op(feature, rois, o);
    }

    private static void ForwardBackward(Tensor feature, Tensor rois, RoIAlignOptions o, Func<Tensor, Tensor, RoIAlignOptions, Tensor> op)
    {
        using var scope = NewDisposeScope();
        var x = feature.detach().requires_grad_(true);
        op(x, rois, o).sum().backward();
    }

    private delegate Tensor DeformConvOp(Tensor input, Tensor offset, Tensor? mask, Tensor weight, Tensor? bias, DeformConvGeometry g);

    private static void DeformConvForward(Tensor x, Tensor offset, Tensor? mask, Tensor weight, DeformConvGeometry geometry, DeformConvOp op)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        op(x, offset, mask, weight, null, geometry);
    }

    private static void DeformConvForwardBackward(Tensor x, Tensor offset, Tensor? mask, Tensor weight, DeformConvGeometry geometry, DeformConvOp op)
    {
        using var scope = NewDisposeScope();
        var leaves = new[] { x, offset, weight }.Select(t => t.detach().requires_grad_(true)).ToArray();
        var m = mask?.detach().requires_grad_(true);
        op(leaves[0], leaves[1], m, leaves[2], null, geometry).sum().backward();
    }

    private static double Median(Action action, int repetitions, int warmup)
    {
        for (int i = 0; i < warmup; i++)
        {
            action();
        }

        var times = new double[Math.Max(1, repetitions)];
        for (int i = 0; i < times.Length; i++)
        {
            var sw = Stopwatch.StartNew();
            action();
            times[i] = sw.Elapsed.TotalMilliseconds;
        }

        Array.Sort(times);
        return times.Length % 2 == 1 ? times[times.Length / 2] : (times[times.Length / 2 - 1] + times[times.Length / 2]) / 2;
    }

    /// <summary>
    /// The 3x3 convs that <c>dcn=dict(...), stage_with_dcn=(False, True, True, True)</c> makes deformable in ResNet-50
    /// (c3-c5, stride 1 after each stage's first block) for a 1333x800 image padded to 1344x800.
    /// </summary>
    internal static readonly (string Stage, int Channels, int H, int W)[] DeformConvLayers = [("c3", 128, 100, 168), ("c4", 256, 50, 84), ("c5", 512, 25, 42)];

    /// <summary>
    /// Input [1, C, H, W] sin(0.001 i); offsets [1, 18, H, W] 4 sin(0.0007 i + 1) px; mask [1, 9, H, W]
    /// 0.5 + 0.5 sin(0.0013 i); weight [C, C, 3, 3] cos(0.01 i) / sqrt(9 C).
    /// </summary>
    internal static (Tensor X, Tensor Offset, Tensor Mask, Tensor Weight) DeformConvInputs(int channels, int h, int w)
    {
        Tensor Formula(long count, Func<Tensor, Tensor> f) => f(arange(count, ScalarType.Float32));
        var x = Formula(channels * h * w, i => (i * 0.001f).sin()).reshape(1, channels, h, w);
        var offset = Formula(18 * h * w, i => (i * 0.0007f + 1).sin() * 4).reshape(1, 18, h, w);
        var mask = Formula(9 * h * w, i => (i * 0.0013f).sin() * 0.5f + 0.5f).reshape(1, 9, h, w);
        var weight = Formula(channels * channels * 9, i => (i * 0.01f).cos() / MathF.Sqrt(9f * channels)).reshape(channels, channels, 3, 3);
        return (x, offset, mask, weight);
    }

    /// <summary>[1, 256, 200, 304], values sin(0.001 * i) (deterministic, no RNG).</summary>
    internal static Tensor RoIAlignFeature()
    {
        const long count = 256L * 200 * 304;
        return (arange(count, ScalarType.Float32) * 0.001f).sin().reshape(1, 256, 200, 304);
    }

    /// <summary>512 RoIs in a 1216 x 800 image (the map at scale 1/4): w = 16 + (97 i mod 241), h = 16 + (61 i mod 241).</summary>
    internal static Tensor RoIAlignRois()
    {
        var r = new float[512, 5];
        for (int i = 0; i < 512; i++)
        {
            int w = 16 + (i * 97 % 241), h = 16 + (i * 61 % 241);
            int x = i * 131 % (1216 - w), y = i * 71 % (800 - h);
            r[i, 0] = 0;
            r[i, 1] = x + 0.25f;
            r[i, 2] = y + 0.5f;
            r[i, 3] = x + w;
            r[i, 4] = y + h;
        }

        return tensor(r);
    }

    /// <summary>n boxes of 40-100 px centred in a 600 x 400 region (heavy overlap, about 1 in 8 kept at IoU 0.5), scores (7919 i mod 10007) / 10007.</summary>
    internal static (Tensor Boxes, Tensor Scores) NmsInputs(int n)
    {
        var b = new float[n, 4];
        var s = new float[n];
        for (int i = 0; i < n; i++)
        {
            float cx = 50 + (i * 37 % 600), cy = 50 + (i * 53 % 400);
            float w = 40 + (i * 13 % 60), h = 40 + (i * 17 % 60);
            b[i, 0] = cx - w / 2;
            b[i, 1] = cy - h / 2;
            b[i, 2] = cx + w / 2;
            b[i, 3] = cy + h / 2;
            s[i] = (i * 7919 % 10007) / 10007f;
        }

        return (tensor(b), tensor(s));
    }

    /// <summary>n boxes: x = (37 i + seed) mod 1000, y = (53 i + seed) mod 700, w = 10 + (13 i mod 200), h = 10 + (17 i mod 200).</summary>
    internal static Tensor OverlapBoxes(int n, int seed)
    {
        var b = new float[n, 4];
        for (int i = 0; i < n; i++)
        {
            float x = (i * 37 + seed) % 1000, y = (i * 53 + seed) % 700;
            b[i, 0] = x;
            b[i, 1] = y;
            b[i, 2] = x + 10 + (i * 13 % 200);
            b[i, 3] = y + 10 + (i * 17 % 200);
        }

        return tensor(b);
    }
}
