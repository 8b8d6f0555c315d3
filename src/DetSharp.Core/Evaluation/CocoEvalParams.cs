namespace DetSharp.Evaluation;

/// <summary>What COCOeval compares: boxes or masks.</summary>
public enum CocoIouType { Bbox, Segm }

/// <summary>An area range with its summarize label (<c>all</c>, <c>small</c>, <c>medium</c>, <c>large</c>).</summary>
public sealed record CocoAreaRange(string Label, double Min, double Max);

/// <summary>pycocotools' <c>Params</c> for bbox/segm evaluation, with the same defaults.</summary>
public sealed class CocoEvalParams
{
    public CocoEvalParams(CocoIouType iouType = CocoIouType.Bbox) => IouType = iouType;

    public CocoIouType IouType { get; set; }

    /// <summary>Image ids to evaluate; null = all ground-truth images.</summary>
    public IReadOnlyList<long>? ImgIds { get; set; }

    /// <summary>Category ids to evaluate; null = all ground-truth categories.</summary>
    public IReadOnlyList<long>? CatIds { get; set; }

    /// <summary><c>np.linspace(.5, 0.95, 10)</c>.</summary>
    public double[] IouThrs { get; set; } = NumpyMath.Linspace(.5, 0.95, 10);

    /// <summary><c>np.linspace(.0, 1.00, 101)</c>.</summary>
    public double[] RecThrs { get; set; } = NumpyMath.Linspace(.0, 1.00, 101);

    public int[] MaxDets { get; set; } = [1, 10, 100];

    public CocoAreaRange[] AreaRanges { get; set; } =
    [
        new("all", 0, 1e5 * 1e5),
        new("small", 0, 32 * 32),
        new("medium", 32 * 32, 96 * 96),
        new("large", 96 * 96, 1e5 * 1e5),
    ];

    public bool UseCats { get; set; } = true;
}
