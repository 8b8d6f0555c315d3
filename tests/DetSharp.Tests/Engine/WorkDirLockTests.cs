using DetSharp.Engine;

namespace DetSharp.Tests.Engine;

/// <summary>Issue 27, item 2: one training run per work dir; the lock names its holder and goes when it is released.</summary>
public class WorkDirLockTests
{
    [Fact]
    public void A_held_work_dir_is_refused_naming_the_holder_and_free_again_after_release()
    {
        using var dir = new TempDir();
        string work = Path.Combine(dir.Path, "work");

        using (WorkDirLock.Acquire(work))
        {
            var e = Assert.Throws<DetSharpException>(() => WorkDirLock.Acquire(work));
            Assert.Contains($"work dir {work} is in use by another training run (PID {Environment.ProcessId} on host {Environment.MachineName}", e.Message);
        }

        using (WorkDirLock.Acquire(work)) { }
        Assert.True(File.Exists(Path.Combine(work, WorkDirLock.FileName)));
    }
}
