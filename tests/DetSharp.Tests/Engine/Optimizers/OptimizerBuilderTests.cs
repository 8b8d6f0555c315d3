using DetSharp.Config;
using DetSharp.Engine.Optimizers;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DetSharp.Tests.Engine.Optimizers;

/// <summary>
/// mmcv's DefaultOptimizerConstructor on mmcv's own test model (ExampleModel: param1, conv1 without bias, conv2, bn,
/// sub.param1, depthwise sub.conv1, sub.gn); expected values are those asserted by mmcv's test_optimizer.py.
/// </summary>
public class OptimizerBuilderTests
{
    private const double BaseLr = 0.01;
    private const double BaseWd = 0.0001;
    private const double Momentum = 0.9;

    private sealed class SubModel : nn.Module
    {
        public SubModel() : base("SubModel")
        {
            register_module("conv1", nn.Conv2d(2, 2, 1, groups: 2));
            register_module("gn", nn.GroupNorm(2, 2));
            register_parameter("param1", new Parameter(ones(1)));
        }
    }

    private sealed class ExampleModel : nn.Module
    {
        public ExampleModel() : base("ExampleModel")
        {
            register_parameter("param1", new Parameter(ones(1)));
            register_module("conv1", nn.Conv2d(3, 4, 1, bias: false));
            register_module("conv2", nn.Conv2d(4, 2, 1));
            register_module("bn", nn.BatchNorm2d(2));
            register_module("sub", new SubModel());
        }
    }

    private static ConfigDict Cfg(string text) => PyConfigParser.Evaluate("x = " + text + "\n", "cfg.py").Get<ConfigDict>("x");

    private static Dictionary<string, ParamGroupSpec> ByName(IReadOnlyList<ParamGroupSpec> groups) => groups.ToDictionary(g => g.Names.Single());

    [Fact]
    public void Parameter_order_is_mmcvs()
    {
        var groups = OptimizerBuilder.ParamGroups(new ExampleModel(), BaseLr, BaseWd, new ConfigDict());
        Assert.Equal(["param1", "conv1.weight", "conv2.weight", "conv2.bias", "bn.weight", "bn.bias", "sub.param1", "sub.conv1.weight", "sub.conv1.bias", "sub.gn.weight", "sub.gn.bias"],
            groups.Select(g => g.Names.Single()));
    }

    [Fact]
    public void Bias_norm_and_depthwise_multipliers()
    {
        var groups = ByName(OptimizerBuilder.ParamGroups(new ExampleModel(), BaseLr, BaseWd,
            Cfg("dict(bias_lr_mult=2, bias_decay_mult=0.5, norm_decay_mult=0, dwconv_decay_mult=0.1)")));

        void Check(string name, double lr, double wd)
        {
            Assert.Equal(lr, groups[name].Lr ?? BaseLr, 12);
            Assert.Equal(wd, groups[name].WeightDecay ?? BaseWd, 12);
        }

        Check("param1", BaseLr, BaseWd);
        Check("conv1.weight", BaseLr, BaseWd);
        Check("conv2.weight", BaseLr, BaseWd);
        Check("conv2.bias", BaseLr * 2, BaseWd * 0.5);
        Check("bn.weight", BaseLr, BaseWd * 0);
        Check("bn.bias", BaseLr, BaseWd * 0);
        Check("sub.param1", BaseLr, BaseWd);
        Check("sub.conv1.weight", BaseLr, BaseWd * 0.1);
        Check("sub.conv1.bias", BaseLr * 2, BaseWd * 0.1);
        Check("sub.gn.weight", BaseLr, BaseWd * 0);
        Check("sub.gn.bias", BaseLr, BaseWd * 0);
    }

    [Fact]
    public void Custom_keys_longest_match_wins()
    {
        var groups = ByName(OptimizerBuilder.ParamGroups(new ExampleModel(), BaseLr, BaseWd,
            Cfg("dict(custom_keys={'param1': dict(lr_mult=10), 'sub': dict(lr_mult=0.1, decay_mult=0), 'sub.gn': dict(lr_mult=0.01), 'non_exist_key': dict(lr_mult=0.0)}, norm_decay_mult=0.5)")));

        Assert.Equal(BaseLr * 10, groups["param1"].Lr!.Value, 12);
        Assert.Equal(BaseWd, groups["param1"].WeightDecay!.Value, 12);
        Assert.Equal(BaseLr * 10, groups["sub.param1"].Lr!.Value, 12); // 'param1' is longer than 'sub'
        Assert.Equal(BaseLr * 0.01, groups["sub.gn.weight"].Lr!.Value, 12);
        Assert.Equal(BaseWd, groups["sub.gn.bias"].WeightDecay!.Value, 12);
        Assert.Equal(BaseLr * 0.1, groups["sub.conv1.weight"].Lr!.Value, 12);
        Assert.Equal(0, groups["sub.conv1.bias"].WeightDecay!.Value, 12);
        Assert.Null(groups["bn.weight"].Lr);
        Assert.Equal(BaseWd * 0.5, groups["bn.bias"].WeightDecay!.Value, 12);
        Assert.Equal(BaseLr, groups["conv2.bias"].Lr!.Value, 12); // bias_lr_mult defaults to 1
        Assert.Null(groups["conv1.weight"].WeightDecay);
    }

    [Fact]
    public void Built_sgd_has_one_group_per_parameter_with_the_settings()
    {
        var model = new ExampleModel();
        var optimizer = OptimizerBuilder.Build(model, Cfg($"dict(type='SGD', lr={BaseLr}, momentum={Momentum}, weight_decay={BaseWd}, paramwise_cfg=dict(bias_lr_mult=2, norm_decay_mult=0))"));
        var groups = optimizer.ParamGroups.Cast<SGD.ParamGroup>().ToList();

        Assert.Equal(11, groups.Count);
        Assert.All(groups, g => Assert.Equal(Momentum, g.Options.momentum));
        Assert.Equal(BaseLr * 2, groups[3].LearningRate, 12); // conv2.bias
        Assert.Equal(0, groups[4].Options.weight_decay!.Value, 12); // bn.weight
        Assert.Equal(BaseWd, groups[1].Options.weight_decay!.Value, 12);
        Assert.Equal(groups[3].LearningRate, groups[3].InitialLearningRate, 12);
    }

    [Fact]
    public void Without_paramwise_cfg_all_parameters_share_one_group()
    {
        var optimizer = OptimizerBuilder.Build(new ExampleModel(), Cfg("dict(type='AdamW', lr=0.0001, weight_decay=0.05, betas=(0.9, 0.98))"));
        var group = optimizer.ParamGroups.Cast<AdamW.ParamGroup>().Single();

        Assert.Equal(11, group.Parameters.Count());
        Assert.Equal(0.98, group.Options.beta2);
        Assert.Equal(0.05, group.Options.weight_decay);
    }

    [Fact]
    public void Decay_multipliers_without_weight_decay_and_unknown_keys_are_errors()
    {
        Assert.Contains("needs optimizer.weight_decay", Assert.Throws<DetSharpException>(() =>
            OptimizerBuilder.ParamGroups(new ExampleModel(), BaseLr, null, Cfg("dict(bias_decay_mult=1)"))).Message);
        Assert.Contains("unexpected argument 'momentun'", Assert.Throws<DetSharpException>(() =>
            OptimizerBuilder.Build(new ExampleModel(), Cfg("dict(type='SGD', lr=0.02, momentun=0.9)"))).Message);
        Assert.Contains("'RMSprop' is not registered in the OPTIMIZERS registry", Assert.Throws<DetSharpException>(() =>
            OptimizerBuilder.Build(new ExampleModel(), Cfg("dict(type='RMSprop', lr=0.02)"))).Message);
        Assert.Contains("'Adamw' is not registered in the OPTIMIZERS registry. Did you mean 'AdamW'", Assert.Throws<DetSharpException>(() =>
            OptimizerBuilder.Build(new ExampleModel(), Cfg("dict(type='Adamw', lr=0.02)"))).Message);
    }

    [Fact]
    public void Auto_scale_lr_follows_mmdetection()
    {
        var result = OptimizerBuilder.AutoScaleLr(0.02, Cfg("dict(enable=True, base_batch_size=16)"), forced: false, numGpus: 1, samplesPerGpu: 2);
        Assert.Equal(0.0025, result!.Value.Lr, 12);
        Assert.Null(OptimizerBuilder.AutoScaleLr(0.02, Cfg("dict(enable=False, base_batch_size=16)"), forced: false, 1, 2));
        Assert.Equal(0.005, OptimizerBuilder.AutoScaleLr(0.02, Cfg("dict(enable=False, base_batch_size=8)"), forced: true, 1, 2)!.Value.Lr, 12);
    }
}
