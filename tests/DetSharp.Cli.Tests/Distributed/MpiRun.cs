using System.Diagnostics;

namespace DetSharp.Cli.Tests.Distributed;

/// <summary>
/// Runs <c>detsharp</c> as N ranks under Open MPI's <c>mpirun</c> (<c>--oversubscribe</c>: more ranks than cores on the test
/// machine; <c>--allow-run-as-root</c> where the tests run as root, as in CI containers), one thread per rank.
/// </summary>
internal static class MpiRun
{
    /// <summary>mpirun on the PATH, or null.</summary>
    public static string? Mpirun { get; } = (Environment.GetEnvironmentVariable("PATH") ?? "")
        .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
        .Select(dir => Path.Combine(dir, "mpirun"))
        .FirstOrDefault(File.Exists);

    public static CliRunner.Result Run(int ranks, int seconds, params string[] args)
    {
        var info = new ProcessStartInfo(Mpirun ?? throw new InvalidOperationException("mpirun is not installed"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = RepoPaths.Root,
        };
        info.Environment["OMP_NUM_THREADS"] = "1";
        foreach (var arg in new[] { "-np", ranks.ToString(System.Globalization.CultureInfo.InvariantCulture), "--oversubscribe" }) info.ArgumentList.Add(arg);
        if (Environment.IsPrivilegedProcess) info.ArgumentList.Add("--allow-run-as-root");
        // Containers often forbid the cross-process memory attach of Open MPI's shared-memory transport (CMA); copying
        // through the shared segment works everywhere.
        foreach (var arg in new[] { "--mca", "btl_vader_single_copy_mechanism", "none", "-x", "OMP_NUM_THREADS", "dotnet", CliRunner.Dll }) info.ArgumentList.Add(arg);
        foreach (var arg in args) info.ArgumentList.Add(arg);
        return CliRunner.Wait(Process.Start(info)!, seconds, $"mpirun -np {ranks} detsharp {string.Join(' ', args)}");
    }
}

/// <summary>A [Fact] that is skipped, saying why, where Open MPI's mpirun is not installed.</summary>
internal sealed class MpiFactAttribute : FactAttribute
{
    public MpiFactAttribute()
    {
        if (MpiRun.Mpirun is null) Skip = "mpirun is not on the PATH: install Open MPI (tools/install-deps.sh, Debian openmpi-bin) to run the distributed tests.";
    }
}
