using DetSharp.Config;

namespace DetSharp.Cli.Tests.Commands;

public class PrintConfigCommandTests
{
    private const string Seed = "configs/cityscapes/cascade_mask_rcnn_r50_augfpn_autoaug_10e_cityscapes.py";

    [Fact]
    public void Prints_the_merged_config_as_python_that_reads_back_identically()
    {
        var result = CliRunner.Run("print-config", Seed);

        Assert.Equal(0, result.ExitCode);
        var printed = PyConfigParser.Evaluate(result.Stdout, "printed.py");
        var loaded = DetSharp.Config.Config.FromFile(Path.Combine(RepoPaths.Root, Seed)).Dict;
        Assert.True(ConfigValue.DeepEquals(loaded, printed));
        Assert.Contains("type='AugFPN'", result.Stdout);
    }

    [Fact]
    public void Applies_cfg_options_and_prints_json()
    {
        var result = CliRunner.Run("print-config", Seed, "--format", "json", "--cfg-options",
            "model.roi_head.bbox_head.0.num_classes=1", "optimizer.lr=0.005");

        Assert.Equal(0, result.ExitCode);
        using var json = System.Text.Json.JsonDocument.Parse(result.Stdout);
        var model = json.RootElement.GetProperty("model");
        Assert.Equal(1, model.GetProperty("roi_head").GetProperty("bbox_head")[0].GetProperty("num_classes").GetInt32());
        Assert.Equal(8, model.GetProperty("roi_head").GetProperty("bbox_head")[1].GetProperty("num_classes").GetInt32());
        Assert.Equal(0.005, json.RootElement.GetProperty("optimizer").GetProperty("lr").GetDouble());
    }

    [Fact]
    public void A_config_error_prints_one_message_without_a_stack_trace_and_fails()
    {
        string dir = Path.Combine(Path.GetTempPath(), "detsharp-cli-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        try
        {
            string file = Path.Combine(dir, "bad.py");
            File.WriteAllText(file, "model = dict(\n    type='MaskRCNN'\n    backbone=dict())\n");

            var result = CliRunner.Run("print-config", file);

            Assert.Equal(1, result.ExitCode);
            Assert.StartsWith($"error: {file}:3:5: invalid syntax", result.Stderr);
            Assert.DoesNotContain("   at ", result.Stderr);
            Assert.Equal("", result.Stdout);

            var verbose = CliRunner.Run("print-config", file, "--verbose");
            Assert.Equal(1, verbose.ExitCode);
            Assert.Contains("   at ", verbose.Stderr);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void A_missing_config_file_is_named()
    {
        var result = CliRunner.Run("print-config", "configs/does_not_exist.py");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("config file not found", result.Stderr);
        Assert.Contains("does_not_exist.py", result.Stderr);
    }
}
