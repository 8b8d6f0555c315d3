using System.Diagnostics;

namespace DetSharp.Cli.Tests;

/// <summary>Runs the real <c>detsharp</c> program (DetSharp.Cli.dll) in a child process, as a user would.</summary>
internal static class CliRunner
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static Result Run(params string[] args) => RunWithTimeout(120, args);

    /// <summary>As <see cref="Run"/>, for the slower verbs (training, testing a model).</summary>
    public static Result RunWithTimeout(int seconds, params string[] args) => RunWithEnvironment(seconds, null, args);

    /// <summary>As <see cref="RunWithTimeout"/>, with extra environment variables for the child process.</summary>
    public static Result RunWithEnvironment(int seconds, IReadOnlyDictionary<string, string>? environment, params string[] args) =>
        Wait(Start(environment, args), seconds, args);

    /// <summary>
    /// As <see cref="RunWithTimeout"/>, under a POSIX file-size limit (<c>ulimit -f</c>, KiB) with SIGXFSZ ignored, so a
    /// write past the limit fails as a full disk does (an I/O error) instead of killing the process.
    /// </summary>
    public static Result RunWithFileSizeLimit(int seconds, long kibibytes, params string[] args)
    {
        var info = new ProcessStartInfo("bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = RepoPaths.Root,
        };
        // The runtime's W^X double mapping sizes a shared-memory file far beyond any such limit and dies at start-up (137).
        info.Environment["DOTNET_EnableWriteXorExecute"] = "0";
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add($"trap '' XFSZ; ulimit -f {kibibytes}; exec dotnet \"$0\" \"$@\"");
        info.ArgumentList.Add(Dll);
        foreach (var arg in args) info.ArgumentList.Add(arg);
        return Wait(Process.Start(info)!, seconds, args);
    }

    public static string Dll => Path.Combine(AppContext.BaseDirectory, "DetSharp.Cli.dll");

    /// <summary>Starts <c>detsharp</c> without waiting (e.g. a training run that another command must meet); the caller ends it.</summary>
    public static Process Start(IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = RepoPaths.Root,
        };
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) info.Environment[k] = v;
        info.ArgumentList.Add(Dll);
        foreach (var arg in args) info.ArgumentList.Add(arg);
        return Process.Start(info)!;
    }

    private static Result Wait(Process started, int seconds, string[] args) => Wait(started, seconds, "detsharp " + string.Join(' ', args));

    /// <summary>
    /// Waits for a started child process (stdout and stderr redirected) at most <paramref name="seconds"/>: its exit code
    /// and output, or, past the limit, the whole process tree killed and a <see cref="TimeoutException"/> naming
    /// <paramref name="command"/>.
    /// </summary>
    public static Result Wait(Process started, int seconds, string command)
    {
        using var process = started;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(seconds * 1000))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException(command + " did not finish in " + seconds + " s");
        }
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }
}
