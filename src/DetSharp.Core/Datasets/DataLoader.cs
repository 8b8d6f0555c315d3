using System.Threading.Channels;

namespace DetSharp.Datasets;

/// <summary>
/// MMDetection's data loader: GroupSampler order (training) padded to samples_per_gpu, <c>workers_per_gpu</c> parallel
/// workers (batch b is made by worker b mod W, as PyTorch does) each with a bounded queue of <c>prefetch</c> ready
/// batches, batches collated with bottom/right zero padding. Reproducible: the sampler uses Random(seed + epoch) and
/// every sample's transforms use their own Random seeded from (seed, epoch, batch, slot), so the output is the same for
/// any number of workers. A training sample the pipeline drops is replaced by a random image of its aspect group.
/// The worker that runs a batch's pipelines also collates it (<see cref="DetBatch.Collate"/>: the padded B×C×H×W float
/// buffer), so the training thread only wraps that buffer in a tensor.
/// In a distributed run (<paramref name="worldSize"/> &gt; 1) the loader yields rank <paramref name="rank"/>'s share of each
/// epoch (<see cref="DistributedSampler"/>), every rank drawing the order from the same seed, while the transforms' seeds
/// are the rank's own (seed + rank, as MMDetection seeds each rank's workers).
/// </summary>
public sealed class DataLoader(IDetDataset dataset, int samplesPerGpu = 2, int workersPerGpu = 2, bool shuffle = true, int seed = 0, int prefetch = 2,
    int rank = 0, int worldSize = 1)
{
    public IDetDataset Dataset { get; } = dataset;
    public int SamplesPerGpu { get; } = samplesPerGpu >= 1 ? samplesPerGpu : throw new DetSharpException("samples_per_gpu must be at least 1.");
    public int WorkersPerGpu { get; } = Math.Max(0, workersPerGpu);

    public int BatchCount => worldSize == 1 ? GroupSampler.BatchCount(Dataset.Flags, Dataset.Count, SamplesPerGpu, shuffle)
        : (ShareLength + SamplesPerGpu - 1) / SamplesPerGpu;

    private int ShareLength => shuffle ? DistributedSampler.GroupShareLength(Dataset.Flags, Dataset.Count, SamplesPerGpu, worldSize)
        : DistributedSampler.SequentialShareLength(Dataset.Count, worldSize);

    /// <summary>The dataset indices of each batch of <paramref name="epoch"/> (this rank's share in a distributed run).</summary>
    public int[][] BatchIndices(int epoch)
    {
        var rng = new Random(unchecked(seed * 1_000_003 + epoch));
        var order = worldSize == 1 ? GroupSampler.Indices(Dataset.Flags, Dataset.Count, SamplesPerGpu, shuffle, rng)
            : shuffle ? DistributedSampler.GroupIndices(Dataset.Flags, Dataset.Count, SamplesPerGpu, rank, worldSize, rng)
            : DistributedSampler.SequentialIndices(Dataset.Count, rank, worldSize);
        int n = (order.Length + SamplesPerGpu - 1) / SamplesPerGpu;
        var batches = new int[n][];
        for (int b = 0; b < n; b++) batches[b] = order.AsSpan(b * SamplesPerGpu, Math.Min(SamplesPerGpu, order.Length - b * SamplesPerGpu)).ToArray();
        return batches;
    }

    /// <summary>The batches of one epoch, in order. Dispose each batch when done with it.</summary>
    public IEnumerable<DetBatch> Epoch(int epoch, CancellationToken cancel = default)
    {
        var batches = BatchIndices(epoch);
        if (WorkersPerGpu == 0)
        {
            for (int b = 0; b < batches.Length; b++) yield return MakeBatch(epoch, b, batches[b]);
            yield break;
        }
        int workers = Math.Min(WorkersPerGpu, Math.Max(1, batches.Length));
        var queues = new Channel<(DetBatch? Batch, Exception? Error)>[workers];
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        var tasks = new Task[workers];
        for (int w = 0; w < workers; w++)
        {
            var queue = queues[w] = Channel.CreateBounded<(DetBatch?, Exception?)>(new BoundedChannelOptions(Math.Max(1, prefetch)) { SingleReader = true, SingleWriter = true });
            int worker = w;
            tasks[w] = Task.Factory.StartNew(async () =>
            {
                try
                {
                    for (int b = worker; b < batches.Length && !stop.IsCancellationRequested; b += workers)
                    {
                        (DetBatch?, Exception?) item;
                        try { item = (MakeBatch(epoch, b, batches[b]), null); }
                        catch (Exception e) { item = (null, e); }
                        await queue.Writer.WriteAsync(item, stop.Token).ConfigureAwait(false);
                        if (item.Item2 is not null) break;
                    }
                }
                catch (OperationCanceledException) { }
                finally { queue.Writer.TryComplete(); }
            }, stop.Token, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
        }
        try
        {
            for (int b = 0; b < batches.Length; b++)
            {
                var (batch, error) = queues[b % workers].Reader.ReadAsync(cancel).AsTask().GetAwaiter().GetResult();
                if (error is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(error).Throw();
                yield return batch!;
            }
        }
        finally
        {
            stop.Cancel();
            foreach (var q in queues)
                while (q.Reader.TryRead(out var left)) left.Batch?.Dispose();
            // The workers stop on `stop`; waiting for them must not end early when the caller's token fires.
            try { Task.WaitAll(tasks, CancellationToken.None); } catch (AggregateException) { }
            foreach (var q in queues)
                while (q.Reader.TryRead(out var left)) left.Batch?.Dispose();
        }
    }

    private DetBatch MakeBatch(int epoch, int batch, int[] indices)
    {
        var samples = new DetSample[indices.Length];
        for (int i = 0; i < indices.Length; i++)
        {
            var rng = new Random(SampleSeed(seed + rank, epoch, batch, i));
            samples[i] = Dataset.GetItem(indices[i], rng);
        }
        return DetBatch.Collate(samples, indices);
    }

    /// <summary>A stable (process-independent) seed from the loader seed and the sample's position (SplitMix64 steps).</summary>
    public static int SampleSeed(int seed, int epoch, int batch, int slot)
    {
        ulong x = (ulong)(uint)seed;
        foreach (int part in new[] { epoch, batch, slot })
        {
            x += 0x9E3779B97F4A7C15UL + (ulong)(uint)part;
            x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
            x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
            x ^= x >> 31;
        }
        return (int)(x & 0x7FFFFFFF);
    }
}
