using System.Globalization;

namespace DetSharp.Cli.Tests.Commands;

public class EnvCommandTests
{
    [Fact]
    public void Reports_versions_threads_cuda_and_opencv()
    {
        var result = CliRunner.Run("env");

        Assert.Equal(0, result.ExitCode);
        var lines = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(": ", 2)).ToDictionary(p => p[0], p => p[1]);
        Assert.Equal("0.107.0", lines["TorchSharp"]);
        Assert.StartsWith("2.10.0", lines["libtorch"]);
        Assert.True(int.Parse(lines["Threads (torch intra-op)"], CultureInfo.InvariantCulture) >= 1);
        Assert.Contains(lines["CUDA available"], new[] { "True", "False" });
        Assert.StartsWith("4.", lines["OpenCV"]);
        Assert.Equal("0.1.0", lines["DetSharp"]);
    }

    [Fact]
    public void Version_option_prints_the_version()
    {
        var result = CliRunner.Run("--version");

        Assert.Equal(0, result.ExitCode);
        Assert.StartsWith("0.1.0", result.Stdout);
    }
}
