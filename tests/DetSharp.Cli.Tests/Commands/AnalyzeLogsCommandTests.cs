namespace DetSharp.Cli.Tests.Commands;

public class AnalyzeLogsCommandTests
{
    private static string Sample => Path.Combine(RepoPaths.Root, "tests", "DetSharp.Core.Tests", "Analysis", "Data", "mmdet_sample.log.json");

    [Fact]
    public void Plot_curve_writes_a_png_of_the_requested_size()
    {
        string output = Path.Combine(Path.GetTempPath(), $"detsharp-curve-{Guid.NewGuid():N}.png");
        try
        {
            var result = CliRunner.Run("analyze-logs", "plot-curve", Sample, "--keys", "loss_cls", "loss_mask", "--legend", "cls", "mask", "--out", output, "--width", "640", "--height", "400");

            Assert.Equal(0, result.ExitCode);
            var bytes = File.ReadAllBytes(output);
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
            // IHDR width and height, big-endian at offsets 16 and 20
            Assert.Equal(640, (bytes[16] << 24) | (bytes[17] << 16) | (bytes[18] << 8) | bytes[19]);
            Assert.Equal(400, (bytes[20] << 24) | (bytes[21] << 16) | (bytes[22] << 8) | bytes[23]);
        }
        finally
        {
            File.Delete(output);
        }
    }

    [Fact]
    public void Cal_train_time_prints_mmdetections_lines()
    {
        var result = CliRunner.Run("analyze-logs", "cal-train-time", Sample);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("slowest epoch 2, average time is 0.2900", result.Stdout);
        Assert.Contains("fastest epoch 1, average time is 0.2600", result.Stdout);
        Assert.Contains("time std over epochs is 0.0150", result.Stdout);
        Assert.Contains("average iter time: 0.2750 s/iter", result.Stdout);
    }

    [Fact]
    public void Wrong_number_of_legend_labels_is_an_error()
    {
        var result = CliRunner.Run("analyze-logs", "plot-curve", Sample, "--keys", "loss_cls", "--legend", "a", "b", "--out", "/tmp/never.png");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("--legend has 2 labels, but 1 logs × 1 keys need 1", result.Stderr);
    }
}
