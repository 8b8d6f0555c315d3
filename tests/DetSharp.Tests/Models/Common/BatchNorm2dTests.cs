using DetSharp.Config;
using DetSharp.Models.Common;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.Common;

/// <summary>
/// mmcv's <c>norm_cfg=dict(type='BN')</c> (<see cref="BatchNorm2d"/>): torch's BatchNorm2d — class name, state dict,
/// training statistics, learnable affine parameters — and, frozen (eval mode, <c>requires_grad=False</c>) with
/// <c>frozen_bn_affine</c> (<see cref="FrozenBatchNorm.Use"/>), torchvision's FrozenBatchNorm2d: the same outputs and
/// input gradients as batch_norm's eval formula, computed by hand here.
/// </summary>
public sealed class BatchNorm2dTests
{
    private static readonly float[] Weight = [1.5f, -0.5f, 2f];
    private static readonly float[] Bias = [0.25f, 1f, -3f];
    private static readonly float[] Mean = [0.1f, -2f, 4f];
    private static readonly float[] Var = [4f, 0.25f, 9f];

    [Fact]
    public void Norm_cfg_BN_builds_torchs_BatchNorm2d()
    {
        var (name, layer) = NormLayers.Build(NormLayers.DefaultBn(), 3, "1");
        Assert.Equal("bn1", name);
        var bn = Assert.IsType<BatchNorm2d>(layer);
        Assert.Equal("BatchNorm2d", bn.GetType().Name); // init_cfg layer='BatchNorm2d' matches the class name
        Assert.True(NormLayers.IsBatchNorm(bn));
        Assert.Equal(["weight", "bias", "running_mean", "running_var", "num_batches_tracked"], ModuleTools.StateDict(bn).Select(e => e.Key));
    }

    [Fact]
    public void The_affine_form_is_opt_in_and_taken_only_when_frozen_and_trained_through()
    {
        using var scope = NewDisposeScope();
        var bn = Frozen();
        var x = Input().requires_grad_();
        Assert.NotNull(FrozenBatchNorm.Forward(bn, x));
        bn.AffineWhenFrozen = false; // the default: libtorch's batch_norm
        Assert.Null(FrozenBatchNorm.Forward(bn, x));
        bn.AffineWhenFrozen = true;
        Assert.Null(FrozenBatchNorm.Forward(bn, Input())); // no gradient flows: batch_norm's inference kernel
        using (no_grad()) Assert.Null(FrozenBatchNorm.Forward(bn, x));
        bn.train();
        Assert.Null(FrozenBatchNorm.Forward(bn, x)); // batch statistics
        bn.eval();
        bn.weight!.requires_grad = true;
        Assert.Null(FrozenBatchNorm.Forward(bn, x)); // learnable affine parameters need the input kept
    }

    [Fact]
    public void Use_switches_every_batch_norm_of_a_model()
    {
        var convs = new ConvModule(3, 8, 3, normCfg: NormLayers.DefaultBn());
        var sync = new ConvModule(8, 8, 3, normCfg: new ConfigDict { ["type"] = "SyncBN" });
        var model = TorchSharp.torch.nn.Sequential(("a", convs), ("b", sync));
        Assert.False(((BatchNorm2d)convs.Norm!).AffineWhenFrozen);
        Assert.Equal(2, FrozenBatchNorm.Use(model));
        Assert.True(((BatchNorm2d)convs.Norm!).AffineWhenFrozen);
        Assert.True(((SyncBatchNorm)sync.Norm!).AffineWhenFrozen);
    }

    [Fact]
    public void Frozen_it_is_the_fixed_affine_map_of_its_statistics_forward_and_backward()
    {
        using var scope = NewDisposeScope();
        var bn = Frozen();
        var x = Input().requires_grad_();
        var y = bn.forward(x);
        var upstream = arange(x.numel(), dtype: ScalarType.Float32).reshape(x.shape).cos();
        y.backward([upstream]);

        var expected = new float[x.numel()];
        var grad = new float[x.numel()];
        var xs = x.detach().data<float>().ToArray();
        var gs = upstream.data<float>().ToArray();
        long plane = x.shape[2] * x.shape[3];
        for (int i = 0; i < xs.Length; i++)
        {
            int c = (int)(i / plane % 3);
            float scale = Weight[c] / MathF.Sqrt(Var[c] + 1e-5f);
            expected[i] = (xs[i] - Mean[c]) * scale + Bias[c];
            grad[i] = gs[i] * scale;
        }
        Assert.Equal(expected, y.detach().data<float>().ToArray(), (a, b) => MathF.Abs(a - b) <= 2e-6f * (1 + MathF.Abs(b)));
        Assert.Equal(grad, x.grad!.data<float>().ToArray(), (a, b) => MathF.Abs(a - b) <= 2e-6f * (1 + MathF.Abs(b)));
    }

    [Fact]
    public void Frozen_it_keeps_a_bfloat16_activation_in_bfloat16()
    {
        using var scope = NewDisposeScope();
        var x = Input().to_type(ScalarType.BFloat16).requires_grad_();
        var y = Frozen().forward(x);
        Assert.Equal(ScalarType.BFloat16, y.dtype);
        y.sum().backward();
        Assert.Equal(ScalarType.BFloat16, x.grad!.dtype);
    }

    [Fact]
    public void With_requires_grad_its_affine_parameters_learn_in_eval_mode()
    {
        using var scope = NewDisposeScope();
        var bn = Frozen();
        bn.weight!.requires_grad = true;
        bn.bias!.requires_grad = true;
        var x = Input().requires_grad_();
        bn.forward(x).sum().backward();
        Assert.NotNull(bn.weight.grad);
        // d(sum y)/d(bias_c) = the number of positions of channel c.
        Assert.Equal([8f, 8f, 8f], bn.bias.grad!.data<float>().ToArray());
    }

    [Fact]
    public void In_training_mode_it_normalises_by_the_batch_and_updates_the_running_statistics()
    {
        using var scope = NewDisposeScope();
        var bn = Frozen();
        bn.train();
        var x = Input().requires_grad_();
        var y = bn.forward(x);
        // Batch statistics: every channel of the output has the bias as its mean.
        Assert.Equal(Bias, y.mean([0, 2, 3]).detach().data<float>().ToArray(), (a, b) => MathF.Abs(a - b) < 1e-5f);
        Assert.Equal(1L, bn.num_batches_tracked!.item<long>());
        Assert.NotEqual(Mean, bn.running_mean!.data<float>().ToArray());
    }

    /// <summary>A BN of 3 channels with the fixed statistics above, frozen as norm_eval + requires_grad=False do, affine form on.</summary>
    private static BatchNorm2d Frozen()
    {
        var (_, layer) = NormLayers.Build(new ConfigDict { ["type"] = "BN", ["requires_grad"] = false }, 3);
        var bn = (BatchNorm2d)layer;
        using (no_grad())
        {
            bn.weight!.copy_(tensor(Weight));
            bn.bias!.copy_(tensor(Bias));
            bn.running_mean!.copy_(tensor(Mean));
            bn.running_var!.copy_(tensor(Var));
        }
        bn.eval();
        FrozenBatchNorm.Use(bn);
        return bn;
    }

    /// <summary>[2, 3, 2, 2]: a formula, no random numbers.</summary>
    private static Tensor Input() => arange(24, dtype: ScalarType.Float32).reshape(2, 3, 2, 2).mul(0.37).sin().mul(3);
}
