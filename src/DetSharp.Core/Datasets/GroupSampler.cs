namespace DetSharp.Datasets;

/// <summary>
/// MMDetection's <c>GroupSampler</c> (training): per aspect group the indices are shuffled and padded with random
/// repeats to a multiple of samples_per_gpu, then whole batches are shuffled, so a batch never mixes groups.
/// Without shuffling (test) the indices are taken in order.
/// </summary>
public static class GroupSampler
{
    public static int[] Indices(IReadOnlyList<byte> flags, int count, int samplesPerGpu, bool shuffle, Random rng)
    {
        if (!shuffle)
        {
            var seq = new int[count];
            for (int i = 0; i < count; i++) seq[i] = i;
            return seq;
        }
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
            int padded = (g.Length + samplesPerGpu - 1) / samplesPerGpu * samplesPerGpu;
            all.AddRange(g);
            for (int k = g.Length; k < padded; k++) all.Add(g[rng.Next(g.Length)]);
        }
        int batches = all.Count / samplesPerGpu;
        var order = new int[batches];
        for (int i = 0; i < batches; i++) order[i] = i;
        rng.Shuffle(order);
        var result = new int[all.Count];
        for (int b = 0; b < batches; b++)
            all.CopyTo(order[b] * samplesPerGpu, result, b * samplesPerGpu, samplesPerGpu);
        return result;
    }

    /// <summary>Iterations per epoch: Σ over groups of ceil(n_g / samples_per_gpu) (training) or ceil(n / samples_per_gpu).</summary>
    public static int BatchCount(IReadOnlyList<byte> flags, int count, int samplesPerGpu, bool shuffle)
    {
        if (!shuffle) return (count + samplesPerGpu - 1) / samplesPerGpu;
        var sizes = new Dictionary<int, int>();
        for (int i = 0; i < count; i++)
        {
            int f = flags.Count == 0 ? 0 : flags[i];
            sizes[f] = sizes.GetValueOrDefault(f) + 1;
        }
        return sizes.Values.Sum(n => (n + samplesPerGpu - 1) / samplesPerGpu);
    }
}
