using System.Text.Json;
using DetSharp.Apis;
using DetSharp.Structures;

namespace DetSharp.Tests.Apis;

/// <summary>
/// <see cref="ResultsComparison"/> on two hand-written <c>detsharp test --out</c> files: detections pair up by label within
/// 1e-2 px and 1e-4 whatever their order, the report gives the pairs' largest differences and smallest mask IoU
/// (4 px of 6: 0.6667), and a box 0.02 px off, a missing detection or another test set is caught.
/// </summary>
public sealed class ResultsComparisonTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("detsharp-compare-").FullName;

    private sealed record Det(double[] Box, double Score, int Label, byte[]? Mask = null);

    // 4 × 4 masks, row-major: the top-left 2 × 2 (4 px) and the top-left 2 rows × 3 columns (6 px); IoU 4 / 6.
    private static readonly byte[] Small = [1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    private static readonly byte[] Wide = [1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];

    [Fact]
    public void Detections_pair_within_the_tolerances_in_any_order_and_the_largest_differences_are_reported()
    {
        string expected = Write("expected.json", (1, [new([10, 10, 20, 20], 0.9, 0, Small), new([30, 30, 40, 40], 0.5, 1, Small), new([50, 50, 60, 60], 0.5, 1, Small)]));
        // Equal scores in the other order, a box 0.006 px and a score 5e-5 off, a mask of 6 px for one of 4.
        string actual = Write("actual.json", (1, [new([50.004, 50, 60, 60], 0.5, 1, Small), new([30, 30, 40.006, 40], 0.50005, 1, Small), new([10, 10, 20, 20], 0.9, 0, Wide)]));

        var c = ResultsComparison.Compare(expected, actual);

        var image = Assert.Single(c.Images);
        Assert.Equal((3, 3, 3), (image.Expected, image.Actual, image.Matched));
        Assert.True(c.SameKeptSets);
        Assert.Equal(0.006, c.MaxBoxDiff, 9);
        Assert.Equal(5e-5, c.MaxScoreDiff, 9);
        Assert.Equal(4.0 / 6.0, c.MinMaskIou, 9);
        Assert.False(c.Agree); // the mask IoU is below 0.99
        Assert.True(ResultsComparison.Compare(expected, expected).Agree);
    }

    [Fact]
    public void A_box_beyond_the_tolerance_or_a_missing_detection_makes_the_kept_sets_differ()
    {
        string expected = Write("expected.json", (1, [new([10, 10, 20, 20], 0.9, 0)]), (2, [new([10, 10, 20, 20], 0.9, 0), new([1, 1, 5, 5], 0.3, 2)]));
        string actual = Write("actual.json", (1, [new([10, 10, 20.02, 20], 0.9, 0)]), (2, [new([10, 10, 20, 20], 0.9, 0)]));

        var c = ResultsComparison.Compare(expected, actual);

        Assert.Equal((1, 0), (c.Images[0].Expected, c.Images[0].Matched));
        Assert.Equal((2, 1, 1), (c.Images[1].Expected, c.Images[1].Actual, c.Images[1].Matched));
        Assert.False(c.Images[0].SameKeptSet);
        Assert.False(c.Images[1].SameKeptSet);
        Assert.False(c.Agree);
        var report = new StringWriter();
        c.Write(report);
        Assert.Contains("0/2 images with the same kept set", report.ToString(), StringComparison.Ordinal);
        Assert.Contains("KEPT SETS DIFFER", report.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Results_of_another_test_set_are_refused()
    {
        string expected = Write("expected.json", (1, [new([10, 10, 20, 20], 0.9, 0)]));
        string other = Write("other.json", (7, [new([10, 10, 20, 20], 0.9, 0)]));

        var e = Assert.Throws<DetSharpException>(() => ResultsComparison.Compare(expected, other));
        Assert.Contains("image_id 1", e.Message, StringComparison.Ordinal);
        Assert.Contains("image_id 7", e.Message, StringComparison.Ordinal);
    }

    /// <summary>A results file as <c>detsharp test --out</c> writes it.</summary>
    private string Write(string name, params (long Id, Det[] Dets)[] images)
    {
        string path = Path.Combine(_dir, name);
        var doc = images.Select(image =>
        {
            var record = new Dictionary<string, object>
            {
                ["image_id"] = image.Id,
                ["file_name"] = $"{image.Id}.jpg",
                ["bboxes"] = image.Dets.Select(d => d.Box.Append(d.Score).ToArray()).ToArray(),
                ["labels"] = image.Dets.Select(d => d.Label).ToArray(),
            };
            if (image.Dets.All(d => d.Mask is not null))
                record["segms"] = image.Dets.Select(d => new Dictionary<string, object> { ["size"] = new[] { 4, 4 }, ["counts"] = Rle.Encode(d.Mask!, 4, 4).ToCompressedString() }).ToArray();
            return record;
        });
        File.WriteAllText(path, JsonSerializer.Serialize(doc));
        return path;
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
