using System.Text.RegularExpressions;

namespace DetSharp.Cli.Tests.Commands;

/// <summary>
/// An HRNet config through the CLI (smoke): <c>print-model</c> lists MMDetection's layout of
/// <c>configs/balloon/mask_rcnn_hrnetv2p_slim_balloon.py</c> (the oracle's TSV in tests/fixtures/mmdet-2.28/hrnet), and
/// <c>train</c> (one epoch of two iterations, on the 13 balloon val images at 128×96) then <c>test --eval bbox</c> run.
/// </summary>
public sealed class HRNetConfigTests
{
    private const string Config = "configs/balloon/mask_rcnn_hrnetv2p_slim_balloon.py";
    private const string Balloon = "datasets/balloon";

    [Fact]
    public void PrintModel_ListsMmdetectionsStateDict_AndParameterCounts()
    {
        string expected = Path.Combine(RepoPaths.Root, "tests", "fixtures", "mmdet-2.28", "hrnet", "mask_rcnn_hrnetv2p_slim_balloon.state_dict.tsv");
        var layout = CliRunner.Run("print-model", Config, "--state-dict");
        Assert.True(layout.ExitCode == 0, layout.Stderr);
        Assert.Equal(File.ReadAllText(expected), layout.Stdout);

        // Counts as MMDetection's build_detector gives them for this config (609,094 / 403,120 / 50,112).
        var tree = CliRunner.Run("print-model", Config, "--depth", "1");
        Assert.True(tree.ExitCode == 0, tree.Stderr);
        Assert.StartsWith("MaskRCNN  params 609,094", tree.Stdout);
        Assert.Contains("  (backbone): HRNet  params 403,120", tree.Stdout);
        Assert.Contains("  (neck): HRFPN  params 50,112", tree.Stdout);
    }

    [SharedFact(Balloon)]
    public void TrainThenTest_OnTinyBalloon_Runs()
    {
        string root = SharedData.FullPath(Balloon);
        string work = Directory.CreateTempSubdirectory("detsharp-hrnet").FullName;
        try
        {
            string[] options =
            [
                "--cfg-options",
                $"data.train.ann_file={root}/val/annotation_coco.json", $"data.train.img_prefix={root}/val/",
                $"data.val.ann_file={root}/val/annotation_coco.json", $"data.val.img_prefix={root}/val/",
                $"data.test.ann_file={root}/val/annotation_coco.json", $"data.test.img_prefix={root}/val/",
                "runner.max_epochs=1", "data.samples_per_gpu=8", "log_config.interval=1", "model.test_cfg.rcnn.max_per_img=20",
                "data.train.pipeline.2.img_scale=[(128,96)]", "data.val.pipeline.1.img_scale=(128,96)", "data.test.pipeline.1.img_scale=(128,96)",
            ];
            var train = CliRunner.RunWithTimeout(600, ["train", Config, "--work-dir", work, "--seed", "0", .. options]);
            Assert.True(train.ExitCode == 0, train.Stdout + train.Stderr);
            string log = File.ReadAllText(Directory.GetFiles(work, "*.log").Single());
            Assert.Matches(new Regex(@"Epoch \[1\]\[2/2\].*loss_rpn_cls: [0-9.]+.*loss_mask: [0-9.]+, loss: [0-9.]+"), log);
            Assert.Contains("Epoch(val) [1][13]", log);
            Assert.True(File.Exists(Path.Combine(work, "epoch_1.pth")));

            var test = CliRunner.RunWithTimeout(300, ["test", Config, Path.Combine(work, "latest.pth"), "--eval", "bbox", "--work-dir", work, .. options]);
            Assert.True(test.ExitCode == 0, test.Stdout + test.Stderr);
            Assert.Contains("'bbox_mAP_copypaste'", test.Stdout);
        }
        finally
        {
            Directory.Delete(work, true);
        }
    }
}
