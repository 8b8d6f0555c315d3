using DetSharp.Config;
using DetSharp.Engine;
using DetSharp.Models.DenseHeads;
using DetSharp.Registry;
using DetSharp.Structures;
using static TorchSharp.torch;

namespace DetSharp.Models.Detectors;

/// <summary>
/// MMDetection's <c>YOLOX</c>: a <see cref="SingleStageDetector"/> (usually CSPDarknet, YOLOXPAFPN, <see cref="YOLOXHead"/>)
/// with multi-scale training inside the model. Each training batch is resized (bilinear, align_corners=False) from
/// <c>input_size</c> (h, w) to the current size, its GT boxes scaled with it, when the two differ (<c>_preprocess</c>);
/// after every <c>random_size_interval</c> training iterations the current size is drawn anew (<c>_random_resize</c>):
/// <c>size_multiplier</c>·s for the height and <c>size_multiplier</c>·int(s·w/h) for the width, s uniform in
/// <c>random_size_range</c> (both ends included). The draws come from the detector's own random generator, seeded from
/// torch's when the detector is built (so a seeded training run repeats them) or by <see cref="SeedRandomResize"/>.
/// Tests run at the pipeline's size, untouched.
/// </summary>
[Register(Registries.ModelsName, "YOLOX")]
public sealed class YOLOX : SingleStageDetector
{
    private readonly (int H, int W) _defaultInputSize;
    private readonly (int Low, int High) _randomSizeRange;
    private Random _random;
    private long _progressInIter;

    public YOLOX(ConfigDict backbone, object neck, ConfigDict bboxHead, ConfigDict? trainCfg = null, ConfigDict? testCfg = null, string? pretrained = null,
        int[]? inputSize = null, int sizeMultiplier = 32, int[]? randomSizeRange = null, int randomSizeInterval = 10, object? initCfg = null)
        : base(nameof(YOLOX), backbone, neck, bboxHead, trainCfg, testCfg, pretrained, initCfg)
    {
        _defaultInputSize = Pair(inputSize ?? [640, 640], "input_size");
        InputSize = _defaultInputSize;
        _randomSizeRange = Pair(randomSizeRange ?? [15, 25], "random_size_range");
        if (_randomSizeRange.Low > _randomSizeRange.High)
            throw new DetSharpException($"YOLOX: random_size_range must be (low, high) with low <= high, got ({_randomSizeRange.Low}, {_randomSizeRange.High}).");
        if (randomSizeInterval < 1) throw new DetSharpException($"YOLOX: random_size_interval must be at least 1, got {randomSizeInterval}.");
        SizeMultiplier = sizeMultiplier;
        RandomSizeInterval = randomSizeInterval;
        _random = new Random((int)randint(int.MaxValue, [1]).item<long>());
    }

    private static (int, int) Pair(int[] v, string key) => v.Length == 2 ? (v[0], v[1])
        : throw new DetSharpException($"YOLOX: {key} must be a pair (height, width) / (low, high), got {v.Length} values.");

    /// <summary>The size (h, w) the next training batch is resized to (<c>_input_size</c>).</summary>
    public (int H, int W) InputSize { get; private set; }

    public int SizeMultiplier { get; }

    public int RandomSizeInterval { get; }

    /// <summary>Restarts the random size draws from <paramref name="seed"/>.</summary>
    public void SeedRandomResize(int seed) => _random = new Random(seed);

    public override LossDict ForwardTrain(Tensor img, IReadOnlyList<ImgMeta> imgMetas, IReadOnlyList<Tensor> gtBboxes, IReadOnlyList<Tensor> gtLabels,
        IReadOnlyList<IInstanceMasks>? gtMasks = null, IReadOnlyList<Tensor?>? gtBboxesIgnore = null)
    {
        LossDict losses;
        using (var scope = NewDisposeScope())
        {
            var (resized, boxes) = Preprocess(img, gtBboxes);
            losses = base.ForwardTrain(resized, imgMetas, boxes, gtLabels, gtMasks, gtBboxesIgnore).MoveToOuterDisposeScope();
        }
        if ((_progressInIter + 1) % RandomSizeInterval == 0) InputSize = RandomResize();
        _progressInIter++;
        return losses;
    }

    /// <summary><c>_preprocess</c>: the batch and its GT boxes resized to <see cref="InputSize"/> when it is not <c>input_size</c>.</summary>
    public (Tensor Img, IReadOnlyList<Tensor> GtBboxes) Preprocess(Tensor img, IReadOnlyList<Tensor> gtBboxes)
    {
        double scaleY = InputSize.H / (double)_defaultInputSize.H;
        double scaleX = InputSize.W / (double)_defaultInputSize.W;
        if (scaleX == 1 && scaleY == 1) return (img, gtBboxes);
        var resized = nn.functional.interpolate(img, size: [InputSize.H, InputSize.W], mode: InterpolationMode.Bilinear, align_corners: false);
        var scale = tensor(new[] { (float)scaleX, (float)scaleY, (float)scaleX, (float)scaleY });
        return (resized, gtBboxes.Select(b => b * scale.to(b.device)).ToList());
    }

    /// <summary><c>_random_resize</c>: a new (h, w) from <c>random_size_range</c>, keeping <c>input_size</c>'s aspect ratio.</summary>
    private (int H, int W) RandomResize()
    {
        int size = _random.Next(_randomSizeRange.Low, _randomSizeRange.High + 1);
        double aspectRatio = _defaultInputSize.W / (double)_defaultInputSize.H;
        return (SizeMultiplier * size, SizeMultiplier * (int)(aspectRatio * size));
    }
}
