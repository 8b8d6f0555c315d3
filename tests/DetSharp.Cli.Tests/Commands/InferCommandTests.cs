namespace DetSharp.Cli.Tests.Commands;

public class InferCommandTests
{
    private const string Checkpoint = "fixtures/mmdet/parity/mask_rcnn_slim.pth";
    private const string BalloonVal = "datasets/balloon/val";

    [SharedFact(Checkpoint, BalloonVal)]
    public void Draws_pictures_and_writes_results_that_coco_eval_reads()
    {
        string outDir = Directory.CreateTempSubdirectory("detsharp-infer-").FullName;
        try
        {
            string valDir = SharedData.FullPath(BalloonVal);
            var result = CliRunner.Run("infer", "configs/balloon/mask_rcnn_r18_slim_fpn_balloon.py", SharedData.FullPath(Checkpoint),
                Path.Combine(valDir, "2*.jpg"), "--out-dir", outDir, "--json", "--ann-file", Path.Combine(valDir, "annotation_coco.json"),
                "--score-thr", "0.5");

            Assert.Equal(0, result.ExitCode);
            var pictures = Directory.GetFiles(outDir, "*.jpg");
            Assert.Equal(Directory.GetFiles(valDir, "2*.jpg").Length, pictures.Length);
            Assert.Contains("wrote", result.Stdout);

            var eval = CliRunner.Run("coco-eval", Path.Combine(valDir, "annotation_coco.json"), Path.Combine(outDir, "results.json"), "--iou-type", "segm", "--json");
            Assert.Equal(0, eval.ExitCode);
            using var stats = System.Text.Json.JsonDocument.Parse(eval.Stdout);
            Assert.Equal(12, stats.RootElement.GetProperty("stats").GetArrayLength());
        }
        finally
        {
            Directory.Delete(outDir, recursive: true);
        }
    }

    [Fact]
    public void A_missing_input_is_named()
    {
        var result = CliRunner.Run("infer", "configs/balloon/mask_rcnn_r18_slim_fpn_balloon.py", "none.pth", "no/such/image.jpg");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("no/such/image.jpg: no such image file or folder", result.Stderr);
    }
}
