using DetSharp.Apis;
using DetSharp.Models.Detectors;
using DetSharp.Structures;

namespace DetSharp.Tests.Apis;

public class CocoResultsFormatTests
{
    private static readonly Rle Mask = Rle.Encode(new byte[] { 0, 1, 1, 0 }, 2, 2);

    // Two detections of two classes, given out of class order as a model's tensors would be.
    private static DetectionResult Result(float[]? maskScores) => DetectionResult.GroupByClass(
        [1, 2, 5, 6, 0.9f, 0, 0, 3, 4, 0.6f], [1, 0], [Mask, Mask], numClasses: 2, maskScores);

    [Fact]
    public void SegmEntriesTakeTheMaskScoreWhereTheModelGivesOne()
    {
        // Mask Scoring R-CNN: _segm2json scores the segm entries with mask_score (seg[1]); bbox entries keep the box score.
        var set = DetectionSet.FromResult(Result([0.45f, 0.3f]), ["a", "b"], null, 10, 10);
        var entries = CocoResultsFormat.Results([set], [7], [11, 12]);

        var bbox = entries["bbox"];
        var segm = entries["segm"];
        Assert.Equal([11L, 12L], bbox.Select(e => e.CategoryId));
        Assert.Equal([0.6f, 0.9f], bbox.Select(e => (float)e.Score));
        Assert.Equal([11L, 12L], segm.Select(e => e.CategoryId));
        Assert.Equal([0.3f, 0.45f], segm.Select(e => (float)e.Score));
    }

    [Fact]
    public void SegmEntriesTakeTheBoxScoreWithoutMaskScores()
    {
        var set = DetectionSet.FromResult(Result(null), ["a", "b"], null, 10, 10);
        var segm = CocoResultsFormat.Segm2Json([set], [7], [11, 12]);
        Assert.Equal([0.6f, 0.9f], segm.Select(e => (float)e.Score));
        Assert.All(segm, e => Assert.NotNull(e.Mask));
    }
}
