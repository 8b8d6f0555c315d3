using DetSharp.Registry;

namespace DetSharp.Datasets.Transforms;

/// <summary>
/// MMDetection's <c>LoadProposals</c>: the dataset's proposals of the image ((N, 4) or (N, 5); the scores are dropped),
/// the first <c>num_max_proposals</c> kept, one [0, 0, 0, 0] box when none is left, registered in bbox_fields so Resize,
/// RandomFlip and the other geometric transforms move them with the image.
/// </summary>
[Register(Registries.PipelinesName, "LoadProposals")]
public sealed class LoadProposals(int? numMaxProposals = null) : IPipelineTransform
{
    /// <summary>The results key: the dataset's raw (N, 4|5) array before this step, the n×4 boxes after it.</summary>
    public const string Key = "proposals";

    public DetSample? Apply(DetSample sample, Random rng)
    {
        if (!sample.Meta.TryGetValue(Key, out var raw) || raw is not float[,] proposals)
            throw new DetSharpException("LoadProposals: the sample has no proposals; set the dataset's proposal_file.");
        int cols = proposals.GetLength(1);
        if (cols is not (4 or 5))
            throw new DetSharpException($"LoadProposals: proposals must have 4 or 5 columns (x1, y1, x2, y2[, score]), got {cols}.");
        int n = proposals.GetLength(0);
        if (numMaxProposals is int max) n = Math.Min(n, max);
        var boxes = new float[Math.Max(n, 1) * 4]; // no proposal left: one all-zero box, as MMDetection
        for (int i = 0; i < n; i++)
            for (int c = 0; c < 4; c++) boxes[i * 4 + c] = proposals[i, c];
        sample.SetBoxes(Key, boxes);
        sample.BboxFields.Add(Key);
        return sample;
    }
}
