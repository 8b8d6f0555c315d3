namespace DetSharp.Cli.Tests.Commands;

/// <summary><c>detsharp train</c> until the detectors land: it sets up the work dir and stops with the registry's message.</summary>
public class TrainCommandTests
{
    private const string Balloon = "configs/balloon/mask_rcnn_r50_caffe_fpn_mstrain-poly_1x_balloon.py";

    [Fact]
    public void Unregistered_model_type_fails_with_one_line_after_dumping_the_config()
    {
        string workDir = Directory.CreateTempSubdirectory("detsharp-train-cli-").FullName;
        try
        {
            var result = CliRunner.Run("train", Balloon, "--work-dir", workDir, "--seed", "3", "--cfg-options", "model.type=MaskRCNNN");

            Assert.Equal(1, result.ExitCode);
            Assert.Contains("error: ", result.Stderr);
            Assert.Contains("'MaskRCNNN' is not registered in the MODELS registry. Did you mean 'MaskRCNN'", result.Stderr);
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
