using DetSharp.Datasets;

namespace DetSharp.Core.Tests.Datasets;

/// <summary>The ranks' shares of an epoch: MMDetection's DistributedGroupSampler (training) and DistributedSampler (test).</summary>
public sealed class DistributedSamplerTests
{
    [Fact]
    public void Test_shares_are_torch_DistributedSampler_s_interleaved_slices_padded_from_the_start()
    {
        // torch: indices += indices[:total - n]; indices[rank:total:world]
        Assert.Equal([0, 2, 4], DistributedSampler.SequentialIndices(5, 0, 2));
        Assert.Equal([1, 3, 0], DistributedSampler.SequentialIndices(5, 1, 2));
        Assert.Equal([2, 5], DistributedSampler.SequentialIndices(6, 2, 3));
        Assert.Equal(3, DistributedSampler.SequentialShareLength(5, 2));
    }

    [Theory]
    [InlineData(1, 2)]
    [InlineData(2, 2)]
    [InlineData(2, 3)]
    [InlineData(3, 4)]
    public void Group_shares_are_equal_disjoint_slices_of_one_order_covering_every_image_and_batches_never_mix_groups(int samplesPerGpu, int world)
    {
        // 7 wide and 4 tall images, interleaved.
        byte[] flags = [1, 0, 1, 1, 0, 1, 1, 0, 1, 0, 1];
        int length = DistributedSampler.GroupShareLength(flags, flags.Length, samplesPerGpu, world);
        var shares = Enumerable.Range(0, world)
            .Select(r => DistributedSampler.GroupIndices(flags, flags.Length, samplesPerGpu, r, world, new Random(42)))
            .ToList();
        foreach (var share in shares)
        {
            Assert.Equal(length, share.Length);
            Assert.Equal(0, share.Length % samplesPerGpu);
            for (int b = 0; b < share.Length; b += samplesPerGpu)
                Assert.Single(share.AsSpan(b, samplesPerGpu).ToArray().Select(i => flags[i]).Distinct());
        }
        var all = shares.SelectMany(s => s).ToList();
        Assert.Equal(Enumerable.Range(0, flags.Length), all.Distinct().Order());
        // Padding repeats images only to fill each group up to a multiple of samples_per_gpu × world.
        int unit = samplesPerGpu * world;
        Assert.Equal((7 + unit - 1) / unit * unit + (4 + unit - 1) / unit * unit, all.Count);
    }

    [Fact]
    public void One_rank_takes_the_whole_group_order()
    {
        byte[] flags = [0, 1, 0, 1, 1];
        var share = DistributedSampler.GroupIndices(flags, flags.Length, 1, 0, 1, new Random(3));
        Assert.Equal([0, 1, 2, 3, 4], share.Order());
    }

    [Fact]
    public void The_loader_of_a_rank_yields_its_share_in_batches()
    {
        byte[] flags = [1, 0, 1, 1, 0, 1, 1, 0, 1, 0, 1];
        var dataset = new FlagsOnlyDataset(flags);
        var loader = new DataLoader(dataset, samplesPerGpu: 2, workersPerGpu: 0, shuffle: true, seed: 9, rank: 1, worldSize: 2);
        var batches = loader.BatchIndices(epoch: 0);
        Assert.Equal(loader.BatchCount, batches.Length);
        Assert.Equal(DistributedSampler.GroupIndices(flags, flags.Length, 2, 1, 2, new Random(unchecked(9 * 1_000_003))), batches.SelectMany(b => b));
    }

    /// <summary>A dataset of aspect flags only: the samplers never load an item.</summary>
    private sealed class FlagsOnlyDataset(byte[] flags) : IDetDataset
    {
        public int Count => flags.Length;

        public IReadOnlyList<byte> Flags => flags;

        public IReadOnlyList<string> Classes => ["x"];

        public bool TestMode => false;

        public IReadOnlyList<string> Warnings => [];

        public DetSample GetItem(int index, Random rng) => throw new InvalidOperationException("the sampler tests load no images");

        public DetSample? Prepare(int index, Random rng) => GetItem(index, rng);

        public IReadOnlyList<long> GetCatIds(int index) => [];

        public AnnInfo GetAnnInfo(int index) => throw new InvalidOperationException("the sampler tests read no annotations");
    }
}
