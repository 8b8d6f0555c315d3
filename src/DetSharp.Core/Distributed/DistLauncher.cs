using System.Globalization;

namespace DetSharp.Distributed;

/// <summary>
/// mmcv's <c>init_dist(launcher)</c> for <c>--launcher none|mpi|slurm</c>: the process group of this run. <c>mpi</c> joins
/// the job <c>mpirun</c> started; <c>slurm</c> joins the job <c>srun</c> started (Open MPI takes the ranks from Slurm's PMIx)
/// and checks them against <c>SLURM_PROCID</c> / <c>SLURM_NTASKS</c>, as mmcv reads them.
/// </summary>
public static class DistLauncher
{
    public static readonly string[] Names = ["none", "mpi", "slurm"];

    public static IProcessGroup Init(string launcher) => launcher switch
    {
        "none" => SingleProcessGroup.Instance,
        "mpi" => InitMpi(),
        "slurm" => InitSlurm(),
        _ => throw new DetSharpException($"--launcher '{launcher}' is not supported; use none, mpi or slurm."),
    };

    private static MpiProcessGroup InitMpi()
    {
        // Without mpirun, MPI_Init makes a world of one, which would train as a single process without saying so.
        if (Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_SIZE") is null && Environment.GetEnvironmentVariable("PMIX_RANK") is null)
            throw new DetSharpException("--launcher mpi: this process was not started by mpirun; run it as `mpirun -np N detsharp train CONFIG --launcher mpi` (or use --launcher none).");
        return MpiProcessGroup.Init();
    }

    private static MpiProcessGroup InitSlurm()
    {
        if (Environment.GetEnvironmentVariable("SLURM_PROCID") is not { } procId || Environment.GetEnvironmentVariable("SLURM_NTASKS") is not { } tasks)
            throw new DetSharpException("--launcher slurm: SLURM_PROCID / SLURM_NTASKS are not set; start the ranks with `srun --mpi=pmix detsharp train CONFIG --launcher slurm` inside an allocation.");
        var group = MpiProcessGroup.Init();
        if (group.Rank != int.Parse(procId, CultureInfo.InvariantCulture) || group.WorldSize != int.Parse(tasks, CultureInfo.InvariantCulture))
        {
            string message = $"--launcher slurm: Open MPI sees rank {group.Rank} of {group.WorldSize} but Slurm says task {procId} of {tasks}; start the job with `srun --mpi=pmix` so that Open MPI takes its ranks from Slurm.";
            group.Dispose();
            throw new DetSharpException(message);
        }
        return group;
    }
}
