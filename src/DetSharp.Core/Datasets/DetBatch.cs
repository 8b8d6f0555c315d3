namespace DetSharp.Datasets;

/// <summary>
/// A collated batch: the samples (boxes, labels, masks, metas) and their CHW images stacked into one float32
/// B×C×H×W array, each padded with zeros at the bottom/right to the batch's largest H and W (mmcv's collate).
/// </summary>
public sealed class DetBatch : IDisposable
{
    public required IReadOnlyList<DetSample> Samples { get; init; }

    /// <summary>B×C×H×W images (null when the samples have no CHW image, e.g. before DefaultFormatBundle).</summary>
    public float[]? Images { get; init; }

    public (int B, int C, int H, int W) Shape { get; init; }

    /// <summary>Dataset indices the batch was drawn for (a dropped training sample is replaced by another image).</summary>
    public required IReadOnlyList<int> Indices { get; init; }

    public void Dispose()
    {
        foreach (var s in Samples) s.Dispose();
    }

    /// <summary>
    /// Stacks the samples' CHW images into one B×C×H×W buffer padded with their pad value (0 unless DefaultFormatBundle's
    /// <c>pad_val.img</c> says otherwise), H and W the batch's largest, rounded up to a
    /// multiple of <paramref name="sizeDivisor"/>. Samples without a CHW image (a pipeline that stops before
    /// DefaultFormatBundle / ImageToTensor) give a batch without <see cref="Images"/>.
    /// </summary>
    public static DetBatch Collate(IReadOnlyList<DetSample> samples, IReadOnlyList<int> indices, int sizeDivisor = 1)
    {
        if (samples.Count == 0 || samples.Any(s => s.ImageChw is null))
            return new DetBatch { Samples = samples, Indices = indices };
        int c = samples[0].ImageChwShape.C, h = 0, w = 0;
        float padValue = samples[0].CollatePadValue;
        foreach (var s in samples)
        {
            if (s.ImageChwShape.C != c) throw new DetSharpException("collate: the images of a batch have different channel counts.");
            if (s.CollatePadValue != padValue) throw new DetSharpException("collate: the images of a batch have different pad values (DefaultFormatBundle pad_val.img).");
            h = Math.Max(h, s.ImageChwShape.H);
            w = Math.Max(w, s.ImageChwShape.W);
        }
        if (sizeDivisor > 1)
        {
            h = (h + sizeDivisor - 1) / sizeDivisor * sizeDivisor;
            w = (w + sizeDivisor - 1) / sizeDivisor * sizeDivisor;
        }
        var data = new float[samples.Count * c * h * w];
        if (padValue != 0) Array.Fill(data, padValue);
        Parallel.For(0, samples.Count, b =>
        {
            var s = samples[b];
            var (_, sh, sw) = s.ImageChwShape;
            for (int k = 0; k < c; k++)
                for (int y = 0; y < sh; y++)
                    s.ImageChw.AsSpan((k * sh + y) * sw, sw).CopyTo(data.AsSpan(((b * c + k) * h + y) * w, sw));
        });
        return new DetBatch { Samples = samples, Indices = indices, Images = data, Shape = (samples.Count, c, h, w) };
    }
}
