namespace DetSharp.Distributed;

/// <summary>The world of one process (<c>--launcher none</c>): every collective is the identity.</summary>
public sealed class SingleProcessGroup : IProcessGroup
{
    public static SingleProcessGroup Instance { get; } = new();

    private SingleProcessGroup() { }

    public int Rank => 0;

    public int WorldSize => 1;

    public void AllReduceSum(Span<float> data) { }

    public void AllReduceSum(Span<double> data) { }

    public void Broadcast(Span<byte> data, int root = 0)
    {
        if (root != 0) throw new ArgumentOutOfRangeException(nameof(root), root, "a single process has only rank 0.");
    }

    public byte[][] AllGather(ReadOnlySpan<byte> blob) => [blob.ToArray()];

    public void Barrier() { }

    public void Abort(string message, int exitCode = 1)
    {
        Console.Error.WriteLine(message);
        Environment.Exit(exitCode);
    }

    public void Dispose() { }
}
