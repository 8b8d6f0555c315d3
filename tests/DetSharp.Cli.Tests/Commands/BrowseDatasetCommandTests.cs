namespace DetSharp.Cli.Tests.Commands;

public class BrowseDatasetCommandTests
{
    [SharedFact("datasets/balloon")]
    public void Writes_pngs_of_the_balloon_training_pipeline()
    {
        string shared = SharedData.FullPath("datasets/balloon");
        string tmp = Path.Combine(Path.GetTempPath(), "detsharp-cli-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var r = CliRunner.Run("browse-dataset", "configs/balloon/mask_rcnn_r50_caffe_fpn_mstrain-poly_1x_balloon.py", "--output-dir", tmp, "--not-show",
                "--limit", "2", "--cfg-options", $"data.train.img_prefix={shared}/train/", $"data.train.ann_file={shared}/train/annotation_coco.json");
            Assert.Equal(0, r.ExitCode);
            Assert.Contains("wrote 2 images", r.Stdout);
            Assert.Equal(2, Directory.GetFiles(tmp, "*.png").Length);
        }
        finally
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
        }
    }
}
