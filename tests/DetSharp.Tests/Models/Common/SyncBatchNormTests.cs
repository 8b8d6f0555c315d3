using DetSharp.Config;
using DetSharp.Distributed;
using DetSharp.Models.Common;
using DetSharp.Tests.TestSupport;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.Common;

/// <summary>
/// SyncBN / MMSyncBN (<see cref="SyncBatchNorm"/>): plain BatchNorm in one process; over ranks (threads of this process
/// joined by <see cref="ThreadWorld"/>, the collectives MPI would do) SyncBN's outputs, input gradients, summed weight and
/// bias gradients and running statistics equal one BatchNorm over the concatenated batch, also when the ranks hold
/// different batch sizes; MMSyncBN's default mode weighs the ranks' statistics equally, as mmcv's.
/// </summary>
public sealed class SyncBatchNormTests
{
    [Fact]
    public void Norm_cfg_types_build_sync_batch_norm_with_batch_norms_state_dict()
    {
        var (name, layer) = NormLayers.Build(new ConfigDict { ["type"] = "SyncBN", ["requires_grad"] = true }, 8, "1");
        Assert.Equal("bn1", name);
        var bn = Assert.IsType<SyncBatchNorm>(layer);
        Assert.Equal(SyncBatchNormStats.Count, bn.Stats);
        Assert.True(NormLayers.IsBatchNorm(bn));
        Assert.Equal(["weight", "bias", "running_mean", "running_var", "num_batches_tracked"], ModuleTools.StateDict(bn).Select(e => e.Key));
        var (_, mm) = NormLayers.Build(new ConfigDict { ["type"] = "MMSyncBN", ["stats_mode"] = "N" }, 8);
        Assert.Equal(SyncBatchNormStats.N, Assert.IsType<SyncBatchNorm>(mm).Stats);
        var error = Assert.Throws<DetSharpException>(() => NormLayers.Build(new ConfigDict { ["type"] = "MMSyncBN", ["stats_mode"] = "X" }, 8));
        Assert.Contains("stats_mode 'X'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void In_one_process_it_is_batch_norm()
    {
        using var scope = NewDisposeScope();
        manual_seed(1);
        var x = randn(4, 3, 5, 6) * 2 + 1;
        var weights = randn(x.shape);
        var (bn, sync) = Layers(3, SyncBatchNormStats.Count);
        var (y, grad) = ForwardBackward(bn, x, weights);
        var (ySync, gradSync) = ForwardBackward(sync, x, weights);
        Assert.Equal(0, (y - ySync).abs().max().item<float>());
        Assert.Equal(0, (grad - gradSync).abs().max().item<float>());
        Assert.Equal(0, (bn.running_var! - sync.running_var!).abs().max().item<float>());
    }

    [Theory]
    [InlineData(2, 2)]
    [InlineData(1, 3)]
    public void Two_ranks_equal_batch_norm_over_the_whole_batch(int first, int second)
    {
        using var scope = NewDisposeScope();
        manual_seed(2);
        var x = randn(first + second, 3, 5, 6) * 2 + 1;
        var weights = randn(x.shape);
        var (bn, _) = Layers(3, SyncBatchNormStats.Count);
        var (y, grad) = ForwardBackward(bn, x, weights);

        int[] sizes = [first, second];
        var ranks = RunRanks(sizes, SyncBatchNormStats.Count, x, weights);
        long offset = 0;
        for (int r = 0; r < 2; r++)
        {
            var (layer, yr, gr) = ranks[r];
            AssertClose(y.narrow(0, offset, sizes[r]), yr, 1e-5, $"rank {r} output");
            AssertClose(grad.narrow(0, offset, sizes[r]), gr, 1e-5, $"rank {r} input gradient");
            AssertClose(bn.running_mean!, layer.running_mean!, 1e-6, $"rank {r} running_mean");
            AssertClose(bn.running_var!, layer.running_var!, 1e-6, $"rank {r} running_var (unbiased over the whole batch)");
            Assert.Equal(1, layer.num_batches_tracked!.item<long>());
            offset += sizes[r];
        }
        // Each rank's weight and bias gradient is its own part; the data-parallel average (× world size) is their sum.
        AssertClose(bn.weight!.grad!, ranks[0].Layer.weight!.grad! + ranks[1].Layer.weight!.grad!, 1e-5, "weight gradient");
        AssertClose(bn.bias!.grad!, ranks[0].Layer.bias!.grad! + ranks[1].Layer.bias!.grad!, 1e-5, "bias gradient");
    }

    [Fact]
    public void MMSyncBN_default_mode_weighs_every_rank_the_same()
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        var x = randn(4, 3, 5, 6) * 2 + 1;
        int[] sizes = [1, 3];
        var ranks = RunRanks(sizes, SyncBatchNormStats.Default, x, randn(x.shape));
        var parts = new[] { x.narrow(0, 0, 1), x.narrow(0, 1, 3) };
        var mean = (parts[0].mean([0, 2, 3]) + parts[1].mean([0, 2, 3])) / 2;
        var variance = parts.Select(p => (p - mean.view(1, 3, 1, 1)).square().mean([0, 2, 3])).Aggregate((a, b) => a + b) / 2;
        var expected = (x - mean.view(1, 3, 1, 1)) / (variance + 1e-5).sqrt().view(1, 3, 1, 1);
        AssertClose(expected.narrow(0, 0, 1), ranks[0].Output, 1e-5, "rank 0 output");
        AssertClose(expected.narrow(0, 1, 3), ranks[1].Output, 1e-5, "rank 1 output");
        // mmcv: momentum 0.1 from (0, 1), the unbiased factor of each rank's own count × world size.
        AssertClose(mean * 0.1, ranks[1].Layer.running_mean!, 1e-6, "running_mean");
        double count = 3 * 30 * 2;
        AssertClose(0.9 + variance * (count / (count - 1)) * 0.1, ranks[1].Layer.running_var!, 1e-6, "running_var");
    }

    /// <summary>Ranks with <paramref name="sizes"/> images of <paramref name="x"/> each, in threads, each a forward and backward.</summary>
    private static (SyncBatchNorm Layer, Tensor Output, Tensor InputGradient)[] RunRanks(int[] sizes, SyncBatchNormStats stats, Tensor x, Tensor weights)
    {
        var layers = sizes.Select(_ => Layers(3, stats).Sync).ToArray();
        var results = new (SyncBatchNorm, Tensor, Tensor)[sizes.Length];
        ThreadWorld.Run(sizes.Length, group =>
        {
            using var scope = NewDisposeScope();
            int r = group.Rank;
            layers[r].ProcessGroup = group;
            long offset = sizes.Take(r).Sum();
            var (y, grad) = ForwardBackward(layers[r], x.narrow(0, offset, sizes[r]), weights.narrow(0, offset, sizes[r]));
            results[r] = (layers[r], y.MoveToOuterDisposeScope(), grad.MoveToOuterDisposeScope());
        });
        Assert.All(results, r => Assert.NotNull(r.Item1));
        return results;
    }

    /// <summary>A BatchNorm2d and a SyncBatchNorm, for SyncBN with the same non-trivial affine parameters (MMSyncBN: 1 and 0).</summary>
    private static (TorchSharp.Modules.BatchNorm2d Bn, SyncBatchNorm Sync) Layers(long channels, SyncBatchNormStats stats)
    {
        var bn = nn.BatchNorm2d(channels);
        var sync = new SyncBatchNorm(channels, stats: stats);
        if (stats != SyncBatchNormStats.Count) return (bn, sync);
        using var noGrad = no_grad();
        using var w = linspace(0.5, 1.5, channels);
        using var b = linspace(-0.2, 0.3, channels);
        bn.weight!.copy_(w);
        bn.bias!.copy_(b);
        sync.weight!.copy_(w);
        sync.bias!.copy_(b);
        return (bn, sync);
    }

    /// <summary>Training-mode forward and the backward of Σ y·<paramref name="weights"/>.</summary>
    private static (Tensor Output, Tensor InputGradient) ForwardBackward(TorchSharp.Modules.BatchNorm layer, Tensor x, Tensor weights)
    {
        layer.train();
        var input = x.detach().clone().requires_grad_(true);
        var y = layer.forward(input);
        (y * weights).sum().backward();
        return (y.detach(), input.grad!.clone());
    }

    private static void AssertClose(Tensor expected, Tensor actual, double tolerance, string what)
    {
        double diff = (expected.to_type(ScalarType.Float64) - actual.to_type(ScalarType.Float64)).abs().max().item<double>();
        Assert.True(diff <= tolerance, $"{what}: max |difference| {diff:E2} > {tolerance:E0}");
    }
}
