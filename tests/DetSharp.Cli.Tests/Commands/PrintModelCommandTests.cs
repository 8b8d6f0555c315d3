namespace DetSharp.Cli.Tests.Commands;

public class PrintModelCommandTests
{
    private const string MaskRcnn = "configs/mask_rcnn/mask_rcnn_r50_fpn_1x_coco.py";

    private const string Nc8StateDict = "fixtures/mmdet/state_dicts/mask_rcnn_r50_fpn_nc8.state_dict.tsv";

    [Fact]
    public void Prints_the_module_tree_with_parameter_counts()
    {
        var result = CliRunner.Run("print-model", MaskRcnn, "--depth", "2");

        Assert.Equal(0, result.ExitCode);
        Assert.StartsWith("MaskRCNN  params 44,396,336  trainable 44,170,992", result.Stdout);
        Assert.Contains("  (backbone): ResNet  params 23,508,032  trainable 23,282,688", result.Stdout);
        Assert.Contains("    (conv1): Conv2d  (weight [64, 3, 7, 7])  params 9,408  trainable 0", result.Stdout);
        Assert.Contains("Total params: 44,396,336", result.Stdout);
        Assert.Contains("Trainable params: 44,170,992", result.Stdout);
    }

    [SharedFact(Nc8StateDict)]
    public void State_dict_listing_equals_mmdetection_for_cfg_options()
    {
        string expected = SharedData.FullPath(Nc8StateDict);
        var result = CliRunner.Run("print-model", MaskRcnn, "--state-dict", "--cfg-options",
            "model.roi_head.bbox_head.num_classes=8", "model.roi_head.mask_head.num_classes=8");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(File.ReadAllText(expected), result.Stdout);
    }

    [Fact]
    public void An_unknown_model_type_is_one_clear_error()
    {
        var result = CliRunner.Run("print-model", MaskRcnn, "--cfg-options", "model.neck.type=FPNX");

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("'FPNX' is not registered in the MODELS registry", result.Stderr);
        Assert.DoesNotContain("   at ", result.Stderr);
    }
}
