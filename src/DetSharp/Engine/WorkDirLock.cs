using System.Globalization;

namespace DetSharp.Engine;

/// <summary>
/// Keeps two training runs out of one work dir: without it both run and interleave their logs and checkpoints. The lock
/// is an OS file lock (<c>.detsharp.lock</c> opened with <see cref="FileShare.None"/>, an exclusive <c>flock</c> on Linux),
/// so the kernel releases it when the process ends in any way — a <c>kill -9</c> or a crash leaves nothing to clean up.
/// Who holds it (PID, host, start time, command line) is written beside it in <c>.detsharp.lock.owner</c>, because a file
/// under an exclusive lock cannot be read by the process that is refused.
/// </summary>
public sealed class WorkDirLock : IDisposable
{
    public const string FileName = ".detsharp.lock";
    public const string OwnerFileName = ".detsharp.lock.owner";

    private readonly FileStream _lock;

    private WorkDirLock(FileStream held) => _lock = held;

    /// <summary>Takes the lock of <paramref name="workDir"/> (created if needed), or throws naming the run that holds it.</summary>
    public static WorkDirLock Acquire(string workDir)
    {
        Directory.CreateDirectory(workDir);
        string path = Path.Combine(workDir, FileName);
        string ownerPath = Path.Combine(workDir, OwnerFileName);
        FileStream held;
        try
        {
            held = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e) when (IsHeldByAnother(e))
        {
            string owner = File.Exists(ownerPath) ? File.ReadAllText(ownerPath).Trim() : "";
            throw new DetSharpException(
                $"work dir {workDir} is in use by another training run ({(owner.Length > 0 ? owner : "its details are not written yet")}). "
                + "Wait for it to finish or stop it, or give this run another --work-dir.");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DetSharpException($"work dir {workDir}: cannot create {FileName} there ({e.Message}); the work dir must be writable.", e);
        }
        var process = System.Diagnostics.Process.GetCurrentProcess();
        string started = process.StartTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
        File.WriteAllText(ownerPath,
            $"PID {Environment.ProcessId} on host {Environment.MachineName}, started {started}: {string.Join(' ', Environment.GetCommandLineArgs())}\n");
        return new WorkDirLock(held);
    }

    /// <summary>The sharing violation .NET reports for a lock held elsewhere: EWOULDBLOCK (Linux 11, macOS 35), or Windows' 32/33.</summary>
    private static bool IsHeldByAnother(IOException e) => e.HResult is 11 or 35 || (e.HResult & 0xFFFF) is 32 or 33;

    public void Dispose() => _lock.Dispose();
}
