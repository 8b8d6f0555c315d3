namespace DetSharp.Ops;

/// <summary>How RoIAlign reduces the sample points of one bin (mmcv's <c>pool_mode</c>).</summary>
public enum RoIAlignPoolMode
{
    /// <summary>'avg': the mean of the bilinear samples (count = max(gridH * gridW, 1)).</summary>
    Avg,

    /// <summary>'max': the largest bilinear sample (mmcv starts from -10000).</summary>
    Max,
}

/// <summary>The parameters of <see cref="RoIAlign"/>, named as mmcv's <c>RoIAlign</c> arguments.</summary>
/// <param name="OutputHeight">Bins per RoI along y (<c>output_size[0]</c>).</param>
/// <param name="OutputWidth">Bins per RoI along x (<c>output_size[1]</c>).</param>
/// <param name="SpatialScale">Factor from RoI (image) coordinates to feature-map coordinates.</param>
/// <param name="SamplingRatio">Sample points per bin along each axis; 0 = adaptive <c>ceil(roi_size / output_size)</c>.</param>
/// <param name="Mode">'avg' or 'max'.</param>
/// <param name="Aligned">True: shift by -0.5 pixel, no minimum RoI size. False: legacy, RoI size clamped to at least 1.</param>
public readonly record struct RoIAlignOptions(
    int OutputHeight,
    int OutputWidth,
    float SpatialScale,
    int SamplingRatio = 0,
    RoIAlignPoolMode Mode = RoIAlignPoolMode.Avg,
    bool Aligned = true)
{
    /// <summary>Parses mmcv's <c>pool_mode</c> string.</summary>
    public static RoIAlignPoolMode ParsePoolMode(string poolMode) => poolMode switch
    {
        "avg" => RoIAlignPoolMode.Avg,
        "max" => RoIAlignPoolMode.Max,
        _ => throw new ArgumentException($"RoIAlign: pool_mode must be 'avg' or 'max', got '{poolMode}'.", nameof(poolMode)),
    };

    internal void Validate()
    {
        if (OutputHeight <= 0 || OutputWidth <= 0)
        {
            throw new ArgumentException($"RoIAlign: output_size must be positive, got ({OutputHeight}, {OutputWidth}).");
        }

        if (SamplingRatio < 0)
        {
            throw new ArgumentException($"RoIAlign: sampling_ratio must be >= 0, got {SamplingRatio}.");
        }
    }
}
