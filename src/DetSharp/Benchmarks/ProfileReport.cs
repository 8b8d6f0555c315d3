using System.Globalization;
using DetSharp.Utils;

namespace DetSharp.Benchmarks;

/// <summary>One row of a <see cref="ProfileReport"/>: a section's own time per iteration, its share of the iteration and its calls per iteration.</summary>
public sealed record ProfileRow(string Section, double MsPerIter, double Percent, double CallsPerIter);

/// <summary>
/// Where the timed iterations of <c>benchmark train|infer --profile</c> went: the <see cref="Profiler"/>'s sections (own time,
/// in the order an iteration runs them), then <see cref="Other"/>, the time no section covers (managed code between libtorch
/// calls, hooks, logging), so that the rows add up to the iteration time. <see cref="GcPauseMsPerIter"/> is the runtime's
/// own count of garbage-collection pauses, which fall inside the sections and are not a row of their own.
/// </summary>
public sealed record ProfileReport(int Iterations, double MsPerIter, IReadOnlyList<ProfileRow> Rows, double GcPauseMsPerIter)
{
    /// <summary>The row of the time outside every section.</summary>
    public const string Other = "other (managed overhead, hooks)";

    /// <summary>The rows of <paramref name="sections"/> timed over <paramref name="iterations"/> iterations that took <paramref name="totalSeconds"/> in all.</summary>
    public static ProfileReport From(IReadOnlyList<ProfiledSection> sections, int iterations, double totalSeconds, TimeSpan gcPause)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(iterations, 1);
        double msPerIter = totalSeconds * 1000 / iterations;
        ProfileRow Row(string name, double seconds, long calls) =>
            new(name, seconds * 1000 / iterations, msPerIter > 0 ? 100 * seconds * 1000 / iterations / msPerIter : 0, (double)calls / iterations);
        int Rank(string name)
        {
            int at = ProfilerSections.InOrder.ToList().IndexOf(name);
            return at < 0 ? int.MaxValue : at;
        }
        var rows = sections.OrderBy(s => Rank(s.Name)).ThenBy(s => s.Name, StringComparer.Ordinal).Select(s => Row(s.Name, s.Seconds, s.Calls)).ToList();
        rows.Add(Row(Other, totalSeconds - sections.Sum(s => s.Seconds), 0));
        return new ProfileReport(iterations, msPerIter, rows, gcPause.TotalMilliseconds / iterations);
    }

    /// <summary>The table: ms per <paramref name="unit"/>, %, calls per <paramref name="unit"/>, then the notes on backward and GC.</summary>
    public void Write(TextWriter w, string unit)
    {
        int width = Math.Max(Rows.Max(r => r.Section.Length), 8);
        w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"profile over {Iterations} {unit}(s) ({MsPerIter:F1} ms per {unit}), own time per section:"));
        w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {"section".PadRight(width)}  {"ms/" + unit,12}  {"%",6}  {"calls/" + unit,12}"));
        foreach (var r in Rows)
            w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {r.Section.PadRight(width)}  {r.MsPerIter,12:F1}  {r.Percent,6:F1}  {r.CallsPerIter,12:F1}"));
        w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {"total".PadRight(width)}  {Rows.Sum(r => r.MsPerIter),12:F1}  {Rows.Sum(r => r.Percent),6:F1}"));
        if (Rows.Any(r => r.Section == ProfilerSections.Backward))
            w.WriteLine("  backward is one autograd call for the whole model (libtorch runs every module's backward inside it): not split by module.");
        w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  GC pauses: {GcPauseMsPerIter:F1} ms per {unit} (all threads; inside the sections above, not a row of their own)."));
    }
}
