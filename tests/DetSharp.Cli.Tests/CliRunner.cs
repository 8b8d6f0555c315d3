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
    public static Result RunWithEnvironment(int seconds, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "DetSharp.Cli.dll");
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = RepoPaths.Root,
        };
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) info.Environment[k] = v;
        info.ArgumentList.Add(dll);
        foreach (var arg in args) info.ArgumentList.Add(arg);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(seconds * 1000))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("detsharp " + string.Join(' ', args) + " did not finish in " + seconds + " s");
        }
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }
}
