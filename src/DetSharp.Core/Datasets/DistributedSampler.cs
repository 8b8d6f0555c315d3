namespace DetSharp.Datasets;

/// <summary>
/// MMDetection's <c>DistributedGroupSampler</c> (training) and <c>DistributedSampler</c> (testing): one rank's share of an
/// epoch. Every rank draws the same global order from the same seed and takes its own part, so the shares are disjoint and
/// of equal length (padded by repeating indices).
/// </summary>
public static class DistributedSampler
{
    /// <summary>
    /// <c>DistributedGroupSampler.__iter__</c>: per aspect group the indices shuffled and padded by repeating them to a
    /// multiple of samples_per_gpu × world size, the groups concatenated, whole batches shuffled, then rank
    /// <paramref name="rank"/>'s contiguous slice of <see cref="GroupShareLength"/> indices.
    /// </summary>
    public static int[] GroupIndices(IReadOnlyList<byte> flags, int count, int samplesPerGpu, int rank, int worldSize, Random rng)
    {
        CheckRank(rank, worldSize);
        var groups = new SortedDictionary<int, List<int>>();
        for (int i = 0; i < count; i++)
        {
            int flag = flags.Count == 0 ? 0 : flags[i];
            if (!groups.TryGetValue(flag, out var list)) groups[flag] = list = [];
            list.Add(i);
        }
        var all = new List<int>();
        foreach (var (_, members) in groups)
        {
            var g = members.ToArray();
            rng.Shuffle(g);
            int padded = PaddedGroupSize(g.Length, samplesPerGpu, worldSize);
            for (int k = 0; k < padded; k++) all.Add(g[k % g.Length]);
        }
        int batches = all.Count / samplesPerGpu;
        var order = new int[batches];
        for (int i = 0; i < batches; i++) order[i] = i;
        rng.Shuffle(order);
        var shuffled = new int[all.Count];
        for (int b = 0; b < batches; b++) all.CopyTo(order[b] * samplesPerGpu, shuffled, b * samplesPerGpu, samplesPerGpu);
        int share = shuffled.Length / worldSize;
        return shuffled.AsSpan(share * rank, share).ToArray();
    }

    /// <summary><c>num_samples</c>: Σ over groups of ceil(n_g / samples_per_gpu / world) × samples_per_gpu.</summary>
    public static int GroupShareLength(IReadOnlyList<byte> flags, int count, int samplesPerGpu, int worldSize)
    {
        var sizes = new Dictionary<int, int>();
        for (int i = 0; i < count; i++)
        {
            int f = flags.Count == 0 ? 0 : flags[i];
            sizes[f] = sizes.GetValueOrDefault(f) + 1;
        }
        return sizes.Values.Sum(n => PaddedGroupSize(n, samplesPerGpu, worldSize)) / worldSize;
    }

    /// <summary>
    /// <c>DistributedSampler</c> without shuffling (MMDetection's test loader): the indices padded by repeating the first
    /// ones to a multiple of the world size, rank <paramref name="rank"/> taking every world-size-th from its rank on.
    /// </summary>
    public static int[] SequentialIndices(int count, int rank, int worldSize)
    {
        CheckRank(rank, worldSize);
        int share = SequentialShareLength(count, worldSize);
        var indices = new int[share];
        for (int k = 0; k < share; k++) indices[k] = (rank + k * worldSize) % Math.Max(count, 1);
        return indices;
    }

    /// <summary><c>num_samples</c> of the test sampler: ceil(n / world).</summary>
    public static int SequentialShareLength(int count, int worldSize) => (count + worldSize - 1) / worldSize;

    private static int PaddedGroupSize(int size, int samplesPerGpu, int worldSize)
    {
        int unit = samplesPerGpu * worldSize;
        return (size + unit - 1) / unit * unit;
    }

    private static void CheckRank(int rank, int worldSize)
    {
        if (worldSize < 1 || rank < 0 || rank >= worldSize)
            throw new ArgumentOutOfRangeException(nameof(rank), $"rank {rank} is not in a world of {worldSize}.");
    }
}
