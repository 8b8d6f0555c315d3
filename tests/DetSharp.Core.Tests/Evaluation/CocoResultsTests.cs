using System.Text.Json;
using DetSharp.Core.Tests.TestSupport;
using DetSharp.Evaluation;
using DetSharp.Structures;
using DetSharp.TestSupport;

namespace DetSharp.Core.Tests.Evaluation;

public class CocoResultsTests
{
    private const string Gt = """
        {"images": [{"id": 1, "width": 100, "height": 80, "file_name": "a.jpg", "extra": 3},
                    {"id": 2, "width": 100, "height": 80}],
         "categories": [{"id": 3, "name": "cat"}, {"id": 7, "name": "dog"}],
         "annotations": [
           {"id": 1, "image_id": 1, "category_id": 3, "bbox": [10, 10, 40, 30], "area": 1200, "iscrowd": 0, "occ": 1,
            "segmentation": [[10, 10, 50, 10, 50, 40, 10, 40]]},
           {"id": 2, "image_id": 2, "category_id": 7, "bbox": [0, 0, 50, 50], "area": 2500, "iscrowd": 0,
            "segmentation": [[0, 0, 50, 0, 50, 50, 0, 50]]}]}
        """;

    private static CocoApi LoadGt() => CocoApi.FromJson(JsonDocument.Parse(Gt).RootElement, "gt.json");

    private static CocoApi LoadResults(string json, CocoApi gt) =>
        CocoResults.FromJson(JsonDocument.Parse(json).RootElement, gt, "results.json");

    [Fact]
    public void EmptyResultsGiveZeroApForCategoriesWithGt()
    {
        var gt = LoadGt();
        var stats = new CocoEval(gt, LoadResults("[]", gt)).Run();
        Assert.Equal(0.0, stats[0]);
        Assert.Equal(-1.0, stats[3]); // no small gt
        Assert.Equal(0.0, stats[8]);
    }

    [Fact]
    public void PerfectResultsGiveApOne()
    {
        var gt = LoadGt();
        var dt = LoadResults("""[{"image_id": 1, "category_id": 3, "bbox": [10, 10, 40, 30], "score": 0.9}, {"image_id": 2, "category_id": 7, "bbox": [0, 0, 50, 50], "score": 0.8}]""", gt);
        // one gt per category: precision = tp / (fp + tp + np.spacing(1)) = 1 / (1 + eps) < 1, as pycocotools gives
        double onePositive = 1 / (1 + 2.220446049250313e-16);
        Assert.Equal(onePositive, new CocoEval(gt, dt).Run()[0]);
        Assert.Equal(onePositive, new CocoEval(gt, dt, CocoIouType.Segm).Run()[0]);
        Assert.Equal(1200, dt.Annotations[0].Area);
        Assert.Equal(1, dt.Annotations[0].Id);
        Assert.Equal(2, dt.Annotations[1].Id);
    }

    [Fact]
    public void CategoriesAbsentFromGtAreIgnored()
    {
        var gt = LoadGt();
        var dt = LoadResults("""[{"image_id": 1, "category_id": 3, "bbox": [10, 10, 40, 30], "score": 0.9}, {"image_id": 1, "category_id": 99, "bbox": [10, 10, 40, 30], "score": 1.0}, {"image_id": 2, "category_id": 7, "bbox": [0, 0, 50, 50], "score": 0.8}]""", gt);
        Assert.Equal(1 / (1 + 2.220446049250313e-16), new CocoEval(gt, dt).Run()[0]);
    }

    [Fact]
    public void BrokenCompressedCountsNameTheEntry()
    {
        var gt = LoadGt();
        var e = Assert.Throws<DetSharpException>(() => LoadResults(
            """[{"image_id": 1, "category_id": 3, "score": 1, "segmentation": {"size": [80, 100], "counts": "PP"}}]""", gt));
        Assert.Contains("results[0]", e.Message);
    }

    [Fact]
    public void ResultForImageNotInGtNamesTheEntry()
    {
        var gt = LoadGt();
        var e = Assert.Throws<DetSharpException>(() => LoadResults(
            """[{"image_id": 1, "category_id": 3, "bbox": [1, 1, 2, 2], "score": 0.9}, {"image_id": 42, "category_id": 3, "bbox": [1, 1, 2, 2], "score": 0.9}]""", gt));
        Assert.Contains("results[1]", e.Message);
        Assert.Contains("image_id 42", e.Message);
    }

    [Theory]
    [InlineData("""[{"image_id": 1, "category_id": 3, "bbox": [1, 1, 2, 2]}]""", "results[0]", "'score'")]
    [InlineData("""[{"image_id": 1, "category_id": 3, "bbox": [1, 1, 2, 2], "score": 1}, {"image_id": 1, "category_id": 3, "score": 1}]""", "results[1]", "'bbox'")]
    [InlineData("""[{"image_id": 1, "category_id": 3, "bbox": [1, 1, 2], "score": 1}]""", "results[0]", "'bbox'")]
    [InlineData("""[{"image_id": "1", "category_id": 3, "bbox": [1, 1, 2, 2], "score": 1}]""", "results[0]", "'image_id'")]
    [InlineData("""[{"image_id": 1, "category_id": 3, "bbox": [1, 1, 2, 2], "score": "high"}]""", "results[0]", "'score'")]
    [InlineData("""[{"image_id": 1, "bbox": [1, 1, 2, 2], "score": 1}]""", "results[0]", "'category_id'")]
    [InlineData("""[{"image_id": 1, "category_id": 3, "score": 1}]""", "results[0]", "neither 'bbox' nor 'segmentation'")]
    [InlineData("""[{"image_id": 1, "category_id": 3, "segmentation": {"size": [80, 100], "counts": [8000]}, "score": 1}, {"image_id": 1, "category_id": 3, "bbox": [1, 1, 2, 2], "score": 1}]""", "results[1]", "'segmentation'")]
    [InlineData("""{"image_id": 1}""", "results.json", "JSON list")]
    [InlineData("""[3]""", "results[0]", "expected an object")]
    public void MalformedEntriesNameIndexAndKey(string json, string where, string what)
    {
        var gt = LoadGt();
        var e = Assert.Throws<DetSharpException>(() => LoadResults(json, gt));
        Assert.Contains(where, e.Message);
        Assert.Contains(what, e.Message);
    }

    [Fact]
    public void SegmResultsWithoutBboxUseMaskAreaAndBox()
    {
        var gt = LoadGt();
        var rle = RlePolygon.FromBbox(new BoxXywh(10, 10, 40, 30), 80, 100);
        var json = "[{\"image_id\": 1, \"category_id\": 3, \"score\": 1, \"segmentation\": {\"size\": [80, 100], \"counts\": " + JsonSerializer.Serialize(rle.ToCompressedString()) + "}}]";
        var dt = LoadResults(json, gt);
        Assert.Equal(rle.Area(), dt.Annotations[0].Area);
        Assert.Equal(rle.ToBbox(), dt.Annotations[0].Bbox);
    }

    [Fact]
    public void WriterOutputLoadsBack()
    {
        var gt = LoadGt();
        var mask = RlePolygon.FromBbox(new BoxXywh(10, 10, 40, 30), 80, 100);
        using var ms = new MemoryStream();
        CocoResultsWriter.Write(ms, [new CocoDetection(1, 3, new BoxXywh(10, 10, 40, 30), 0.5, mask)]);
        var dt = LoadResults(System.Text.Encoding.UTF8.GetString(ms.ToArray()), gt);
        Assert.Equal(0.5, dt.Annotations[0].Score);
        Assert.Equal(mask.Counts, dt.Annotations[0].Segmentation!.ToRle(80, 100).Counts);
    }

    [Fact]
    public void MissingGtFileIsAClearError()
    {
        var e = Assert.Throws<DetSharpException>(() => CocoApi.Load("/nonexistent/gt.json"));
        Assert.Contains("/nonexistent/gt.json", e.Message);
    }

    [Fact]
    public void PythonFormattingRoundsExactTiesToEven()
    {
        Assert.Equal("0.562", NumpyMath.FormatFixed(0.5625, 3));
        Assert.Equal("0.188", NumpyMath.FormatFixed(0.1875, 3));
        Assert.Equal("-1.000", NumpyMath.FormatFixed(-1, 3));
        Assert.Equal("0.50", NumpyMath.FormatFixed(NumpyMath.Linspace(.5, .95, 10)[0], 2));
        Assert.Equal(0.75, NumpyMath.Linspace(.5, .95, 10)[5]);
    }

    [SharedFact]
    public void MmdetMetricsOnBalloonJitter()
    {
        var gt = CocoApi.Load(SharedData.FullPath("datasets", "balloon", "val", "annotation_coco.json"));
        string results = SharedData.FullPath("datasets", "balloon", "eval_fixtures", "val_results_jitter.json");
        var r = CocoMetric.Evaluate(gt, new Dictionary<string, string> { ["bbox"] = results },
            new CocoMetricOptions { Metrics = ["bbox", "proposal"], Classwise = true });
        // pycocotools stats (balloon expected_stats.json, bbox jitter) rounded to 3 decimals; maxDets (100, 300, 1000)
        Assert.Equal(0.412, r.Values["bbox_mAP"]);
        Assert.Equal(0.814, r.Values["bbox_mAP_50"]);
        Assert.Equal(0.287, r.Values["bbox_mAP_75"]);
        Assert.Equal(0.176, r.Values["bbox_mAP_s"]);
        Assert.Equal("0.412 0.814 0.287 0.176 0.373 0.448", r.Values["bbox_mAP_copypaste"]);
        Assert.True(r.Values.ContainsKey("AR@100"));
        Assert.Contains("| category | AP    |", r.Log);
        Assert.Contains("| balloon  | 0.412 |", r.Log);
        var e = Assert.Throws<DetSharpException>(() => CocoMetric.Evaluate(gt, new Dictionary<string, string> { ["bbox"] = results },
            new CocoMetricOptions { MetricItems = ["mAP_xl"] }));
        Assert.Contains("mAP_xl", e.Message);
    }

    /// <summary>cocoapi's fake results as the entries DetSharp's test path hands to the evaluation.</summary>
    private static List<CocoDetection> Entries(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        return doc.RootElement.EnumerateArray().Select(e => new CocoDetection(
            e.GetProperty("image_id").GetInt64(), e.GetProperty("category_id").GetInt64(),
            e.TryGetProperty("bbox", out var b) ? new BoxXywh(b[0].GetDouble(), b[1].GetDouble(), b[2].GetDouble(), b[3].GetDouble()) : default,
            e.GetProperty("score").GetDouble(),
            e.TryGetProperty("segmentation", out var s) ? CocoSegmentation.Parse(s, path).ToRle(0, 0) : null)).ToList();
    }

    [SharedFact]
    public void InMemoryEvaluationEqualsEvaluatingTheWrittenFiles()
    {
        string folder = SharedData.FullPath("datasets", "cocoapi_fake100");
        var gt = CocoApi.Load(Path.Combine(folder, "instances_val2014_100.json"));
        var bbox = Entries(Path.Combine(folder, "instances_val2014_fakebbox100_results.json"));
        var segm = Entries(Path.Combine(folder, "instances_val2014_fakesegm100_results.json"));
        using var dir = new TempDir();
        var files = new Dictionary<string, string> { ["bbox"] = Path.Combine(dir.Path, "r.bbox.json"), ["segm"] = Path.Combine(dir.Path, "r.segm.json") };
        CocoResultsWriter.Write(files["bbox"], bbox);
        CocoResultsWriter.Write(files["segm"], segm);
        var options = new CocoMetricOptions { Metrics = ["bbox", "segm"], Classwise = true };

        var fromFiles = CocoMetric.Evaluate(gt, files, options);
        var inMemory = CocoMetric.Evaluate(gt, new Dictionary<string, IReadOnlyList<CocoDetection>> { ["bbox"] = bbox, ["segm"] = segm }, options);

        Assert.Equal(fromFiles.Values, inMemory.Values);
        Assert.Equal(fromFiles.Log, inMemory.Log);
        // cocoapi's printout for these results (val2014_fake_eval_res.txt)
        Assert.Equal(0.505, inMemory.Values["bbox_mAP"]);
        Assert.Equal(0.32, inMemory.Values["segm_mAP"]);
    }
}
