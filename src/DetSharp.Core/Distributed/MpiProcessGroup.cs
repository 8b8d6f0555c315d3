using System.Runtime.InteropServices;

namespace DetSharp.Distributed;

/// <summary>
/// <see cref="IProcessGroup"/> on Open MPI's C ABI (<c>libmpi.so.40</c>, Debian's <c>libopenmpi3</c>), the ranks
/// <c>mpirun</c> or Slurm's <c>srun</c> started. Open MPI's handles (<c>MPI_COMM_WORLD</c>, <c>MPI_FLOAT</c>,
/// <c>MPI_SUM</c>, ...) are the addresses of its global objects (<c>ompi_mpi_comm_world</c>, ...), not constants, so they
/// are looked up as exports. Every call is blocking and made from one thread at a time (MPI_THREAD_SERIALIZED). MPI's
/// default error handler ends the whole job on a failed call, and <c>mpirun</c> ends the other ranks when one dies, so a
/// lost rank never leaves the others waiting.
/// </summary>
public sealed unsafe partial class MpiProcessGroup : IProcessGroup
{
    private const string Library = "libmpi.so.40";
    private const int ThreadSerialized = 2;
    private const int RtldNow = 2;
    private const int RtldGlobal = 0x100;
    private static readonly nint InPlace = 1;

    private readonly nint _world;
    private readonly nint _float;
    private readonly nint _double;
    private readonly nint _byte;
    private readonly nint _int;
    private readonly nint _sum;
    private readonly delegate* unmanaged<nint, nint, int, nint, nint, nint, int> _allreduce;
    private readonly delegate* unmanaged<nint, int, nint, int, nint, int> _bcast;
    private readonly delegate* unmanaged<nint, int, nint, nint, int, nint, nint, int> _allgather;
    private readonly delegate* unmanaged<nint, int, nint, nint, int*, int*, nint, nint, int> _allgatherv;
    private readonly delegate* unmanaged<nint, int> _barrier;
    private readonly delegate* unmanaged<nint, int, int> _abort;
    private readonly delegate* unmanaged<int> _finalize;
    private readonly delegate* unmanaged<int*, int> _finalized;
    private bool _disposed;

    [LibraryImport("libc.so.6", EntryPoint = "dlopen", StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint DlOpen(string file, int mode);

    private MpiProcessGroup(nint lib)
    {
        nint Export(string name) => NativeLibrary.GetExport(lib, name);
        _world = Export("ompi_mpi_comm_world");
        _float = Export("ompi_mpi_float");
        _double = Export("ompi_mpi_double");
        _byte = Export("ompi_mpi_byte");
        _int = Export("ompi_mpi_int");
        _sum = Export("ompi_mpi_op_sum");
        _allreduce = (delegate* unmanaged<nint, nint, int, nint, nint, nint, int>)Export("MPI_Allreduce");
        _bcast = (delegate* unmanaged<nint, int, nint, int, nint, int>)Export("MPI_Bcast");
        _allgather = (delegate* unmanaged<nint, int, nint, nint, int, nint, nint, int>)Export("MPI_Allgather");
        _allgatherv = (delegate* unmanaged<nint, int, nint, nint, int*, int*, nint, nint, int>)Export("MPI_Allgatherv");
        _barrier = (delegate* unmanaged<nint, int>)Export("MPI_Barrier");
        _abort = (delegate* unmanaged<nint, int, int>)Export("MPI_Abort");
        _finalize = (delegate* unmanaged<int>)Export("MPI_Finalize");
        _finalized = (delegate* unmanaged<int*, int>)Export("MPI_Finalized");

        var initialized = (delegate* unmanaged<int*, int>)Export("MPI_Initialized");
        var initThread = (delegate* unmanaged<int*, nint, int, int*, int>)Export("MPI_Init_thread");
        var commRank = (delegate* unmanaged<nint, int*, int>)Export("MPI_Comm_rank");
        var commSize = (delegate* unmanaged<nint, int*, int>)Export("MPI_Comm_size");
        int flag, provided, rank, size;
        Check(initialized(&flag), "MPI_Initialized");
        if (flag == 0) Check(initThread(null, 0, ThreadSerialized, &provided), "MPI_Init_thread");
        Check(commRank(_world, &rank), "MPI_Comm_rank");
        Check(commSize(_world, &size), "MPI_Comm_size");
        Rank = rank;
        WorldSize = size;
    }

    /// <summary>Loads Open MPI and joins the job (<c>MPI_Init_thread</c>); the rank and size are MPI_COMM_WORLD's.</summary>
    public static MpiProcessGroup Init()
    {
        // Open MPI loads its transports as plug-ins that resolve libmpi's symbols globally: a library opened RTLD_LOCAL (as
        // .NET opens native libraries) makes them fail with "undefined symbol".
        nint lib = DlOpen(Library, RtldNow | RtldGlobal);
        if (lib == 0)
            throw new DetSharpException($"Open MPI ({Library}) could not be loaded; install it (Debian/Ubuntu: tools/install-deps.sh, or apt-get install openmpi-bin libopenmpi-dev) or run without --launcher mpi.");
        return new MpiProcessGroup(lib);
    }

    public int Rank { get; }

    public int WorldSize { get; }

    public void AllReduceSum(Span<float> data)
    {
        fixed (float* p = data) AllReduce(p, data.Length, _float);
    }

    public void AllReduceSum(Span<double> data)
    {
        fixed (double* p = data) AllReduce(p, data.Length, _double);
    }

    private void AllReduce(void* data, int count, nint type)
    {
        if (count == 0) return;
        Check(_allreduce(InPlace, (nint)data, count, type, _sum, _world), "MPI_Allreduce");
    }

    public void Broadcast(Span<byte> data, int root = 0)
    {
        if (data.IsEmpty) return;
        fixed (byte* p = data) Check(_bcast((nint)p, data.Length, _byte, root, _world), "MPI_Bcast");
    }

    public byte[][] AllGather(ReadOnlySpan<byte> blob)
    {
        var lengths = new int[WorldSize];
        int mine = blob.Length;
        fixed (int* l = lengths) Check(_allgather((nint)(&mine), 1, _int, (nint)l, 1, _int, _world), "MPI_Allgather");
        var offsets = new int[WorldSize];
        long total = 0;
        for (int r = 0; r < WorldSize; r++)
        {
            offsets[r] = (int)total;
            total += lengths[r];
        }
        if (total > int.MaxValue) throw new DetSharpException($"the ranks' results ({total} bytes together) exceed MPI's 2 GiB per gather; test on fewer images at a time.");
        var all = new byte[Math.Max(total, 1)];
        fixed (byte* send = blob)
        fixed (byte* recv = all)
        fixed (int* l = lengths)
        fixed (int* o = offsets)
            Check(_allgatherv((nint)send, mine, _byte, (nint)recv, l, o, _byte, _world), "MPI_Allgatherv");
        var parts = new byte[WorldSize][];
        for (int r = 0; r < WorldSize; r++) parts[r] = all.AsSpan(offsets[r], lengths[r]).ToArray();
        return parts;
    }

    public void Barrier() => Check(_barrier(_world), "MPI_Barrier");

    public void Abort(string message, int exitCode = 1)
    {
        Console.Error.WriteLine(message);
        Console.Error.Flush();
        _abort(_world, exitCode);
        Environment.Exit(exitCode);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        int done;
        if (_finalized(&done) == 0 && done == 0) _finalize();
    }

    private void Check(int code, string call)
    {
        if (code != 0) throw new DetSharpException($"{call} failed with MPI error {code} on rank {Rank}.");
    }
}
