using DetSharp.Registry;
using DetSharp.Structures;
using OpenCvSharp;

namespace DetSharp.Datasets.Transforms;

/// <summary>
/// MMDetection's <c>RandomFlip</c>: one direction with probability <c>flip_ratio</c>, a list of directions sharing it
/// evenly, or per-direction ratios; a flip preset on the sample (test time) is obeyed. Boxes: x1' = W − x2 (no −1).
/// </summary>
[Register(Registries.PipelinesName, "RandomFlip")]
public sealed class RandomFlip : IPipelineTransform
{
    private readonly List<string?> _directions;
    private readonly double[] _cdf;

    public RandomFlip(object? flipRatio = null, object? direction = null)
    {
        var dirs = TransformArgs.Strings(direction ?? "horizontal", "RandomFlip direction");
        foreach (var d in dirs) Directions.ParseFlip(d);
        var probs = new List<double>();
        if (flipRatio is List<object?> ratios)
        {
            if (ratios.Count != dirs.Count) throw new DetSharpException("RandomFlip: flip_ratio and direction lists must have the same length.");
            foreach (var r in ratios) probs.Add(TransformArgs.Number(r, "RandomFlip flip_ratio"));
            probs.Add(1 - probs.Sum());
        }
        else
        {
            double ratio = flipRatio is null ? 0 : TransformArgs.Number(flipRatio, "RandomFlip flip_ratio");
            foreach (var _ in dirs) probs.Add(ratio / dirs.Count);
            probs.Add(1 - ratio);
        }
        if (probs.Any(p => p < -1e-12)) throw new DetSharpException("RandomFlip: flip ratios must be in [0, 1] and sum to at most 1.");
        _directions = [.. dirs, null];
        _cdf = new double[probs.Count];
        double acc = 0;
        for (int i = 0; i < probs.Count; i++) _cdf[i] = acc += probs[i];
    }

    public DetSample? Apply(DetSample sample, Random rng)
    {
        if (sample.Flip is null)
        {
            // numpy.random.choice(p=...): the first index whose cumulative probability exceeds a uniform draw
            double u = rng.NextDouble() * _cdf[^1];
            int k = 0;
            while (k < _cdf.Length - 1 && u >= _cdf[k]) k++;
            sample.Flip = _directions[k] is not null;
            if (!sample.FlipDirectionSet)
            {
                sample.FlipDirection = _directions[k];
                sample.FlipDirectionSet = true;
            }
        }
        if (sample.Flip == true)
        {
            var dir = Directions.ParseFlip(sample.FlipDirection ?? "horizontal");
            var img = sample.Img!;
            var flipped = new Mat();
            Cv2.Flip(img, flipped, dir switch { FlipDirection.Horizontal => FlipMode.Y, FlipDirection.Vertical => FlipMode.X, _ => FlipMode.XY });
            sample.SetImg(flipped);
            float w = sample.ImgShape.Width, h = sample.ImgShape.Height;
            foreach (var key in sample.BboxFields)
            {
                var b = sample.GetBoxes(key);
                if (b is null) continue;
                sample.SetBoxes(key, FlipBoxes(b, w, h, dir));
            }
            foreach (var key in sample.MaskFields)
            {
                var m = sample.GetMasks(key);
                if (m is not null) sample.SetMasks(key, m.Flip(dir));
            }
            foreach (var key in sample.SegFields)
            {
                var seg = sample.GetSeg(key);
                if (seg is not null) sample.SetSeg(key, seg.Flip(dir));
            }
        }
        return sample;
    }

    public static float[] FlipBoxes(float[] b, float w, float h, FlipDirection dir)
    {
        var o = (float[])b.Clone();
        for (int i = 0; i < b.Length; i += 4)
        {
            if (dir != FlipDirection.Vertical) { o[i] = w - b[i + 2]; o[i + 2] = w - b[i]; }
            if (dir != FlipDirection.Horizontal) { o[i + 1] = h - b[i + 3]; o[i + 3] = h - b[i + 1]; }
        }
        return o;
    }
}
