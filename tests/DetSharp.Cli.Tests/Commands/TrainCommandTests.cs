namespace DetSharp.Cli.Tests.Commands;

/// <summary><c>detsharp train</c> set-up errors: the work dir and config dump come first, then one clear message.</summary>
public class TrainCommandTests
{
    private const string Balloon = "configs/balloon/mask_rcnn_r50_caffe_fpn_mstrain-poly_1x_balloon.py";

    [Fact]
    public void Missing_dataset_fails_with_one_line_after_dumping_the_config()
    {
        string workDir = Directory.CreateTempSubdirectory("detsharp-train-cli-").FullName;
        try
        {
            var result = CliRunner.Run("train", Balloon, "--work-dir", workDir, "--seed", "3");

            Assert.Equal(1, result.ExitCode);
            Assert.Contains("error: ", result.Stderr);
            // the tutorial's data/balloon/ is not there: the dataset names the file and what to check
            Assert.Contains("data/balloon/train/annotation_coco.json: annotation file not found", result.Stderr);
            Assert.True(File.Exists(Path.Combine(workDir, "mask_rcnn_r50_caffe_fpn_mstrain-poly_1x_balloon.py")));
            Assert.Contains("Set random seed to 3, deterministic: False", result.Stdout);
        }
        finally
        {
            Directory.Delete(workDir, recursive: true);
        }
    }

    [Fact]
    public void Cuda_without_cuda_libtorch_is_explained()
    {
        string workDir = Directory.CreateTempSubdirectory("detsharp-train-cli-").FullName;
        try
        {
            var result = CliRunner.Run("train", Balloon, "--work-dir", workDir, "--device", "cuda");

            Assert.Equal(1, result.ExitCode);
            Assert.Contains("--device cuda: CUDA is not available", result.Stderr);
        }
        finally
        {
            Directory.Delete(workDir, recursive: true);
        }
    }
}
