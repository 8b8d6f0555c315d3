using System.Text.RegularExpressions;

namespace DetSharp.Engine.Checkpoints;

/// <summary>
/// The temporary files of <see cref="Checkpoint.WriteAtomically"/> and <see cref="Checkpoint.UpdateLatest"/>
/// (<c>.epoch_3.pth.&lt;32 hex digits&gt;.tmp</c>, up to the size of a checkpoint): a run killed while writing one leaves it
/// behind. The next run in that work dir removes them — safely, because it holds the <see cref="WorkDirLock"/>, so no other
/// run can be writing them.
/// </summary>
public static partial class CheckpointTempFiles
{
    [GeneratedRegex(@"^\..+\.[0-9a-f]{32}\.tmp$")]
    private static partial Regex TempName();

    /// <summary>Deletes the stale temporary files directly in <paramref name="dir"/>; returns their paths.</summary>
    public static IReadOnlyList<string> RemoveStale(string dir)
    {
        var removed = new List<string>();
        if (!Directory.Exists(dir)) return removed;
        foreach (var file in Directory.EnumerateFiles(dir))
        {
            if (!TempName().IsMatch(Path.GetFileName(file))) continue;
            File.Delete(file);
            removed.Add(file);
        }
        return removed;
    }
}
