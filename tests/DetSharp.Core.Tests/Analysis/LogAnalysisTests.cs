using DetSharp.Analysis;

namespace DetSharp.Core.Tests.Analysis;

/// <summary>
/// analyze_logs on a log in MMDetection's .log.json format (built from the reference's sample lines: the first
/// train line and the val line's values are MMDetection's own, the other records are made up around them).
/// </summary>
public class LogAnalysisTests
{
    private static readonly string SamplePath = Path.Combine(AppContext.BaseDirectory, "Analysis", "Data", "mmdet_sample.log.json");

    [Fact]
    public void Cal_train_time_drops_each_epochs_first_record_by_default()
    {
        var summary = LogAnalysis.CalTrainTime(JsonTrainingLog.Load(SamplePath));

        // epoch 1: mean(0.25, 0.27) = 0.26; epoch 2: mean(0.28, 0.30) = 0.29
        Assert.Equal(2, summary.SlowestEpoch);
        Assert.Equal(0.29, summary.SlowestEpochTime, 12);
        Assert.Equal(1, summary.FastestEpoch);
        Assert.Equal(0.26, summary.FastestEpochTime, 12);
        Assert.Equal(0.015, summary.StdOverEpochs, 12); // population std of {0.26, 0.29}
        Assert.Equal(0.275, summary.MeanIterTime, 12);
    }

    [Fact]
    public void Cal_train_time_with_outliers_keeps_them()
    {
        var summary = LogAnalysis.CalTrainTime(JsonTrainingLog.Load(SamplePath), includeOutliers: true);

        // epoch 1: (0.30274 + 0.25 + 0.27) / 3; epoch 2: (0.40 + 0.28 + 0.30) / 3
        Assert.Equal((0.30274 + 0.25 + 0.27) / 3, summary.FastestEpochTime, 12);
        Assert.Equal((0.40 + 0.28 + 0.30) / 3, summary.SlowestEpochTime, 12);
        Assert.Equal((0.30274 + 0.25 + 0.27 + 0.40 + 0.28 + 0.30) / 6, summary.MeanIterTime, 12);
    }

    [Fact]
    public void MAP_metrics_are_plotted_per_epoch_from_val_records()
    {
        var curve = LogAnalysis.Curve(JsonTrainingLog.Load(SamplePath), "bbox_mAP", "balloon");

        Assert.Equal("epoch", curve.XLabel);
        Assert.Equal([1.0, 2.0], curve.Xs);
        Assert.Equal([0.5, 0.708], curve.Ys);
    }

    [Fact]
    public void Other_keys_are_plotted_per_iteration_across_epochs()
    {
        var curve = LogAnalysis.Curve(JsonTrainingLog.Load(SamplePath), "loss_cls", "loss_cls");

        // iterations per epoch = the first epoch's last train record (150): x = iter + (epoch - 1) * 150
        Assert.Equal("iter", curve.XLabel);
        Assert.Equal([50.0, 100, 150, 200, 250, 300], curve.Xs);
        Assert.Equal([0.48361, 0.3, 0.2, 0.15, 0.1, 0.08], curve.Ys);
    }

    [Fact]
    public void A_missing_metric_says_what_to_do()
    {
        var e = Assert.Throws<DetSharpException>(() => LogAnalysis.Curve(JsonTrainingLog.Load(SamplePath), "proposal_mAP", "x"));

        Assert.Contains("does not contain the metric 'proposal_mAP'", e.Message);
        Assert.Contains("--no-validate", e.Message);
    }

    [Fact]
    public void A_text_log_is_rejected_with_a_hint()
    {
        string path = Path.Combine(Path.GetTempPath(), $"detsharp-{Guid.NewGuid():N}.log");
        File.WriteAllText(path, "2021-12-21 21:51:15,623 - mmdet - INFO - Environment info\n2021-12-21 - mmdet - INFO - Epoch [1][50/930]\n");
        try
        {
            var e = Assert.Throws<DetSharpException>(() => JsonTrainingLog.Load(path));
            Assert.Contains(":2: not a JSON log line", e.Message);
            Assert.Contains("Pass the .log.json file", e.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Curves_present_leaves_out_metrics_a_run_never_logged()
    {
        // Issue 27, item 9: one epoch with evaluation every 2 epochs logs no bbox_mAP; the demo's plot must not stop there.
        using var dir = new TestSupport.TempDir();
        string path = dir.Write("run.log.json", string.Join("\n",
            "{\"env_info\": \"x\", \"seed\": 0}",
            "{\"mode\": \"train\", \"epoch\": 1, \"iter\": 10, \"lr\": 0.001, \"time\": 0.3, \"loss\": 2.5}",
            "{\"mode\": \"train\", \"epoch\": 1, \"iter\": 20, \"lr\": 0.002, \"time\": 0.3, \"loss\": 1.5}") + "\n");
        var log = JsonTrainingLog.Load(path);

        Assert.Throws<DetSharpException>(() => LogAnalysis.Curve(log, "bbox_mAP", "bbox_mAP"));
        var curves = LogAnalysis.CurvesPresent(log, ["loss", "bbox_mAP", "segm_mAP"]);

        Assert.Equal(["loss"], curves.Select(c => c.Label));
        Assert.Equal([10.0, 20.0], curves[0].Xs);
    }

    [Fact]
    public void Curves_present_starts_each_metric_at_the_first_epoch_that_logged_it()
    {
        var log = JsonTrainingLog.Load(SamplePath);

        var curves = LogAnalysis.CurvesPresent(log, ["bbox_mAP", "no_such_metric"]);

        Assert.Equal(["bbox_mAP"], curves.Select(c => c.Label));
        Assert.Equal(LogAnalysis.Curve(log, "bbox_mAP", "bbox_mAP").Ys, curves[0].Ys);
    }
}
