namespace DetSharp.Distributed;

/// <summary>
/// The ranks of a data-parallel run (torch.distributed's process group, as mmcv's <c>get_dist_info</c> and the collectives
/// DetSharp needs): this process's rank, the world size, and blocking collectives over every rank. Every rank must make
/// the same calls in the same order. <see cref="SingleProcessGroup"/> is the world of one; <see cref="MpiProcessGroup"/>
/// runs on Open MPI. A NCCL group (GPU buffers without a copy to the host) would be another implementation of this
/// interface; nothing above it would change.
/// </summary>
public interface IProcessGroup : IDisposable
{
    int Rank { get; }

    int WorldSize { get; }

    /// <summary>More than one rank.</summary>
    bool IsDistributed => WorldSize > 1;

    /// <summary>Element-wise sum over all ranks, in place: every rank ends with the sum.</summary>
    void AllReduceSum(Span<float> data);

    /// <summary>Element-wise sum over all ranks, in place (counters, losses for the log).</summary>
    void AllReduceSum(Span<double> data);

    /// <summary><paramref name="root"/>'s bytes into every rank's <paramref name="data"/> (the same length on every rank).</summary>
    void Broadcast(Span<byte> data, int root = 0);

    /// <summary>Every rank's blob (lengths may differ), indexed by rank, on every rank.</summary>
    byte[][] AllGather(ReadOnlySpan<byte> blob);

    /// <summary>Returns when every rank has called it.</summary>
    void Barrier();

    /// <summary>Ends every rank of the run (this one included) with a non-zero exit code, after <paramref name="message"/> went to stderr.</summary>
    void Abort(string message, int exitCode = 1);
}
