using DetSharp.Distributed;

namespace DetSharp.Tests.TestSupport;

/// <summary>Ranks as threads of one process: the collectives of an <see cref="IProcessGroup"/> through shared memory.</summary>
internal sealed class ThreadWorld(int size) : IDisposable
{
    public int Size => size;

    private readonly object _lock = new();
    private readonly Barrier _barrier = new(size);
    private double[] _sum = [];
    private readonly byte[]?[] _blobs = new byte[size][];
    private int _arrived;

    public IProcessGroup Join(int rank) => new Member(this, rank);

    /// <summary>Runs <paramref name="body"/> as <paramref name="size"/> ranks, each on a thread of its own, and waits for them.</summary>
    public static void Run(int size, Action<IProcessGroup> body)
    {
        using var world = new ThreadWorld(size);
        Exception? failure = null;
        var threads = Enumerable.Range(0, size).Select(rank => new Thread(() =>
        {
            try
            {
                body(world.Join(rank));
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref failure, e, null);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        foreach (var thread in threads)
        {
            if (!thread.Join(TimeSpan.FromSeconds(60)))
                throw new TimeoutException("a rank hangs in a collective", failure);
        }
        if (failure is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
    }

    public void Dispose() => _barrier.Dispose();

    private void AllReduce(Span<double> data)
    {
        lock (_lock)
        {
            if (_arrived++ == 0) _sum = new double[data.Length];
            for (int i = 0; i < data.Length; i++) _sum[i] += data[i];
        }
        _barrier.SignalAndWait();
        _sum.CopyTo(data);
        _barrier.SignalAndWait();
        // Every rank has read the sum: the last one to leave resets for the next collective.
        lock (_lock) if (--_arrived == 0) _sum = [];
        _barrier.SignalAndWait();
    }

    private byte[][] Gather(ReadOnlySpan<byte> blob, int rank)
    {
        _blobs[rank] = blob.ToArray();
        _barrier.SignalAndWait();
        var all = _blobs.Select(b => b!).ToArray();
        _barrier.SignalAndWait();
        return all;
    }

    private sealed class Member(ThreadWorld world, int rank) : IProcessGroup
    {
        public int Rank => rank;

        public int WorldSize => world.Size;

        public void AllReduceSum(Span<double> data) => world.AllReduce(data);

        public void AllReduceSum(Span<float> data)
        {
            var wide = data.ToArray().Select(f => (double)f).ToArray();
            world.AllReduce(wide);
            for (int i = 0; i < data.Length; i++) data[i] = (float)wide[i];
        }

        public void Broadcast(Span<byte> data, int root = 0) => world.Gather(data, rank)[root].CopyTo(data);

        public byte[][] AllGather(ReadOnlySpan<byte> blob) => world.Gather(blob, rank);

        public void Barrier() => world._barrier.SignalAndWait();

        public void Abort(string message, int exitCode = 1) => throw new InvalidOperationException(message);

        public void Dispose() { }
    }
}
