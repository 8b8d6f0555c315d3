using DetSharp.Registry;

namespace DetSharp.Models.TaskModules;

/// <summary>
/// MMDetection's <c>SSDAnchorGenerator</c>. Per level k: base size <c>min_sizes[k]</c>, scales 1 and
/// √(max_sizes[k] / min_sizes[k]), ratios 1, then 1/r and r for each r of <c>ratios[k]</c>, centred at half the stride;
/// of the scale × ratio anchors it keeps (scale 1, ratio 1), (scale √, ratio 1) and the other ratios at scale 1, in that
/// order (4 or 6 anchors). Without explicit sizes they come from <c>basesize_ratio_range</c> (percent steps of
/// ⌊(max − min) / (levels − 2)⌋ of <c>input_size</c>) plus the fixed first level MMDetection hard-codes for SSD300
/// (ratio start 0.15: 7 %–15 %, 0.2: 10 %–20 %) and SSD512 (0.1: 4 %–10 %, 0.15: 7 %–15 %).
/// </summary>
[Register(Registries.TaskModulesName, "SSDAnchorGenerator")]
public class SSDAnchorGenerator : AnchorGenerator
{
    public SSDAnchorGenerator(object[] strides, double[][] ratios, double[]? minSizes = null, double[]? maxSizes = null,
        double[]? basesizeRatioRange = null, int inputSize = 300, bool scaleMajor = true)
        : this(legacy: false, strides, ratios, minSizes, maxSizes, basesizeRatioRange, inputSize, scaleMajor)
    {
    }

    /// <param name="legacy">MMDetection 1.x's box convention (<see cref="LegacySSDAnchorGenerator"/>).</param>
    protected SSDAnchorGenerator(bool legacy, object[] strides, double[][] ratios, double[]? minSizes, double[]? maxSizes,
        double[]? basesizeRatioRange, int inputSize, bool scaleMajor)
        : this(ParseStrides(strides, "SSDAnchorGenerator"), ratios, Sizes(strides.Length, minSizes, maxSizes, basesizeRatioRange ?? [0.15, 0.9], inputSize),
            scaleMajor, legacy)
    {
        InputSize = inputSize;
    }

    private SSDAnchorGenerator((int W, int H)[] strides, double[][] ratios, (double[] Min, double[] Max) sizes, bool scaleMajor, bool legacy)
        : base(strides, BaseAnchors(strides, ratios, sizes, scaleMajor, legacy), [], [])
    {
        if (strides.Length != ratios.Length) throw new DetSharpException("SSDAnchorGenerator: strides and ratios must have one entry per level.");
        MinSizes = sizes.Min;
        MaxSizes = sizes.Max;
    }

    public int InputSize { get; }

    /// <summary><c>base_sizes</c> (the smaller anchor size of each level).</summary>
    public double[] MinSizes { get; }

    public double[] MaxSizes { get; }

    private static (double[] Min, double[] Max) Sizes(int levels, double[]? minSizes, double[]? maxSizes, double[] range, int inputSize)
    {
        if (minSizes is null != maxSizes is null)
            throw new DetSharpException("SSDAnchorGenerator: min_sizes and max_sizes must be given together.");
        if (minSizes is not null)
        {
            if (minSizes.Length != levels || maxSizes!.Length != levels)
                throw new DetSharpException($"SSDAnchorGenerator: min_sizes and max_sizes need {levels} entries (one per stride).");
            return (minSizes, maxSizes);
        }
        if (range.Length != 2) throw new DetSharpException("SSDAnchorGenerator: basesize_ratio_range must be (min, max).");
        if (levels < 3) throw new DetSharpException("SSDAnchorGenerator: basesize_ratio_range needs at least 3 levels.");
        // MMDetection's integer arithmetic: int(ratio * 100), int(floor(max - min) / (levels - 2)), int(size * ratio / 100).
        int minRatio = (int)(range[0] * 100), maxRatio = (int)(range[1] * 100);
        int step = (int)(Math.Floor((double)(maxRatio - minRatio)) / (levels - 2));
        if (step <= 0) throw new DetSharpException("SSDAnchorGenerator: basesize_ratio_range is too narrow for the number of levels.");
        var mins = new List<double>();
        var maxs = new List<double>();
        for (int ratio = minRatio; ratio <= maxRatio; ratio += step)
        {
            mins.Add((int)(inputSize * ratio / 100.0));
            maxs.Add((int)(inputSize * (ratio + step) / 100.0));
        }
        (int First, int Second) = (inputSize, range[0]) switch
        {
            (300, 0.15) => (7, 15),
            (300, 0.2) => (10, 20),
            (512, 0.1) => (4, 10),
            (512, 0.15) => (7, 15),
            (300, _) => throw new DetSharpException($"SSDAnchorGenerator: basesize_ratio_range[0] should be either 0.15 or 0.2 when input_size is 300, got {range[0]}."),
            (512, _) => throw new DetSharpException($"SSDAnchorGenerator: basesize_ratio_range[0] should be either 0.1 or 0.15 when input_size is 512, got {range[0]}."),
            _ => throw new DetSharpException($"SSDAnchorGenerator: only input_size 300 or 512 is supported without min_sizes and max_sizes, got {inputSize}."),
        };
        mins.Insert(0, (int)(inputSize * First / 100.0));
        maxs.Insert(0, (int)(inputSize * Second / 100.0));
        if (mins.Count != levels)
            throw new DetSharpException($"SSDAnchorGenerator: basesize_ratio_range gives {mins.Count} anchor sizes for {levels} strides.");
        return ([.. mins], [.. maxs]);
    }

    private static TorchSharp.torch.Tensor[] BaseAnchors((int W, int H)[] strides, double[][] ratios, (double[] Min, double[] Max) sizes, bool scaleMajor,
        bool legacy)
    {
        var result = new TorchSharp.torch.Tensor[strides.Length];
        for (int k = 0; k < strides.Length; k++)
        {
            var levelRatios = new List<double> { 1.0 };
            foreach (double r in ratios[k]) levelRatios.AddRange([1 / r, r]);
            double[] scales = [1.0, Math.Sqrt(sizes.Max[k] / sizes.Min[k])];
            // 1.x centres the anchors on the middle pixel of the stride cell, (stride − 1)/2.
            var center = legacy ? ((strides[k].W - 1) / 2f, (strides[k].H - 1) / 2f) : (strides[k].W / 2f, strides[k].H / 2f);
            using var all = SingleLevelBaseAnchors((float)sizes.Min[k], center, [.. levelRatios], scales, scaleMajor, legacy);
            // (scale 1, ratio 1), (scale √(max/min), ratio 1), then the remaining ratios.
            var order = new List<long> { 0, levelRatios.Count };
            for (int i = 1; i < levelRatios.Count; i++) order.Add(i);
            result[k] = all.index_select(0, TorchSharp.torch.tensor(order.ToArray()));
            result[k].DetachFromDisposeScope();
        }
        return result;
    }
}

/// <summary>
/// MMDetection's <c>LegacySSDAnchorGenerator</c> (<c>legacy_1.x/ssd300_coco_v1.py</c>): <see cref="SSDAnchorGenerator"/>'s
/// sizes and anchor order with 1.x's box convention — centres at ((stride − 1)/2, (stride − 1)/2), corners
/// ±(size − 1)/2 rounded to integers, as <see cref="LegacyAnchorGenerator"/>.
/// </summary>
[Register(Registries.TaskModulesName, "LegacySSDAnchorGenerator")]
public sealed class LegacySSDAnchorGenerator(object[] strides, double[][] ratios, double[] basesizeRatioRange, int inputSize = 300, bool scaleMajor = true)
    : SSDAnchorGenerator(legacy: true, strides, ratios, null, null, basesizeRatioRange, inputSize, scaleMajor);
