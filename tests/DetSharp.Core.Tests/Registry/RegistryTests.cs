using DetSharp.Config;
using DetSharp.Registry;

namespace DetSharp.Core.Tests.Registry;

/// <summary>Components build from config dicts under MMDetection's type names, with errors that name what is wrong.</summary>
public class RegistryTests
{
    public enum Style { Pytorch, Caffe }

    [Register("TEST", "ResNet")]
    public sealed class FakeResNet(int depth, int numStages = 4, int[]? outIndices = null, ConfigDict? normCfg = null, Style style = Style.Pytorch)
    {
        public int Depth { get; } = depth;
        public int NumStages { get; } = numStages;
        public int[] OutIndices { get; } = outIndices ?? [0, 1, 2, 3];
        public ConfigDict? NormCfg { get; } = normCfg;
        public Style Style { get; } = style;
    }

    [Register("TEST")]
    public sealed class FPN(IReadOnlyList<int> inChannels, int outChannels)
    {
        public IReadOnlyList<int> InChannels { get; } = inChannels;
        public int OutChannels { get; } = outChannels;
    }

    [Register("TEST", "Shared2FCBBoxHead")]
    public sealed class FakeHead(int numClasses, [ExtraArguments] ConfigDict rest)
    {
        public int NumClasses { get; } = numClasses;
        public ConfigDict Rest { get; } = rest;
    }

    private static DetSharp.Registry.Registry Make()
    {
        var registry = new DetSharp.Registry.Registry("TEST");
        registry.RegisterAssembly(typeof(RegistryTests).Assembly);
        return registry;
    }

    private static ConfigDict Cfg(string text)
    {
        var dict = PyConfigParser.Evaluate("x = " + text + "\n", "cfg.py");
        DetSharp.Config.Config.Annotate(dict, "", "configs/my.py");
        return dict.Get<ConfigDict>("x");
    }

    [Fact]
    public void Builds_from_snake_case_keys_with_defaults_and_conversions()
    {
        var built = Make().Build<FakeResNet>(Cfg("dict(type='ResNet', depth=50, out_indices=(1, 3), norm_cfg=dict(type='BN', requires_grad=True), style='caffe')"));

        Assert.Equal(50, built.Depth);
        Assert.Equal(4, built.NumStages);
        Assert.Equal([1, 3], built.OutIndices);
        Assert.True(built.NormCfg!.Get<bool>("requires_grad"));
        Assert.Equal(Style.Caffe, built.Style);
    }

    [Fact]
    public void Default_args_fill_missing_keys()
    {
        var built = Make().Build<FPN>(Cfg("dict(type='FPN', in_channels=[256, 512])"), new Dictionary<string, object?> { ["out_channels"] = 64L });

        Assert.Equal([256, 512], built.InChannels);
        Assert.Equal(64, built.OutChannels);
    }

    [Fact]
    public void Unknown_type_suggests_the_closest_registered_names()
    {
        var e = Assert.Throws<DetSharpException>(() => Make().Build(Cfg("dict(type='ResNett', depth=50)")));

        Assert.Equal("configs/my.py: 'x': 'ResNett' is not registered in the TEST registry. Did you mean 'ResNet'?", e.Message);
    }

    [Fact]
    public void Unknown_argument_is_named_with_a_suggestion()
    {
        var e = Assert.Throws<DetSharpException>(() => Make().Build(Cfg("dict(type='ResNet', depth=50, num_stage=4)")));

        Assert.StartsWith("configs/my.py: 'x': ResNet got an unexpected argument 'num_stage'. Did you mean 'num_stages'?", e.Message);
        Assert.Contains("It accepts: depth, num_stages, out_indices, norm_cfg, style.", e.Message);
    }

    [Fact]
    public void Missing_required_argument_is_named()
    {
        var e = Assert.Throws<DetSharpException>(() => Make().Build(Cfg("dict(type='FPN', in_channels=[1])")));

        Assert.Equal("configs/my.py: 'x': FPN is missing the required argument 'out_channels'.", e.Message);
    }

    [Fact]
    public void Wrong_argument_type_names_the_key_path()
    {
        var e = Assert.Throws<DetSharpException>(() => Make().Build(Cfg("dict(type='ResNet', depth='fifty')")));

        Assert.Equal("config key 'x.depth' in configs/my.py is the string 'fifty', but an int is expected.", e.Message);
    }

    [Fact]
    public void Invalid_enum_value_lists_the_choices()
    {
        var e = Assert.Throws<DetSharpException>(() => Make().Build(Cfg("dict(type='ResNet', depth=50, style='tf')")));

        Assert.Contains("'tf' is not a valid value; expected one of: pytorch, caffe.", e.Message);
    }

    [Fact]
    public void Missing_type_key_is_reported()
    {
        var e = Assert.Throws<DetSharpException>(() => Make().Build(Cfg("dict(depth=50)")));

        Assert.Contains("has no 'type' key", e.Message);
    }

    [Fact]
    public void Extra_arguments_parameter_collects_unnamed_keys()
    {
        var head = Make().Build<FakeHead>(Cfg("dict(type='Shared2FCBBoxHead', num_classes=8, fc_out_channels=1024)"));

        Assert.Equal(8, head.NumClasses);
        Assert.Equal(["fc_out_channels"], head.Rest.Keys);
    }

    [Fact]
    public void Factories_and_duplicate_registration()
    {
        var registry = new DetSharp.Registry.Registry("TEST");
        registry.Register("Const", cfg => cfg.Get<int>("value") * 2);

        Assert.Equal(6, registry.Build(Cfg("dict(type='Const', value=3)")));
        Assert.Throws<InvalidOperationException>(() => registry.Register("Const", _ => 0));
    }

    [Theory]
    [InlineData("NumClasses", "num_classes")]
    [InlineData("inChannels", "in_channels")]
    [InlineData("addGtAsProposals", "add_gt_as_proposals")]
    [InlineData("relu", "relu")]
    [InlineData("stage2Blocks", "stage2_blocks")]
    public void Parameter_names_map_to_snake_case(string name, string expected) =>
        Assert.Equal(expected, ConfigConvert.ToSnakeCase(name));
}
