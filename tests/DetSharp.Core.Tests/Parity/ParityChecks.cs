using System.Globalization;

namespace DetSharp.Core.Tests.Parity;

/// <summary>
/// How far a value may be from MMDetection's: <c>|actual − expected| ≤ Abs + Rel·ref</c>, where <c>ref</c> is
/// <c>|expected|</c> unless the comparison names another scale. A relative tolerance also reports its deviation
/// divided by <c>ref</c>: for values that span orders of magnitude (losses, pixel sums) that is the meaningful number.
/// </summary>
public sealed record Tolerance(double Abs, double Rel, bool ReportsRelative)
{
    /// <summary>Equality (for counts of mismatches: none allowed).</summary>
    public static Tolerance Exact { get; } = new(0, 0, false);

    public static Tolerance Absolute(double abs, double rel = 0) => new(abs, rel, false);

    public static Tolerance Relative(double rel, double abs = 0) => new(abs, rel, true);

    /// <summary>At most <paramref name="allowed"/> mismatches.</summary>
    public static Tolerance Count(int allowed) => new(allowed, 0, false);

    public bool Allows(double absDeviation, double reference) => absDeviation <= Abs + Rel * reference;

    /// <summary>The deviation as this tolerance reports it (absolute, or relative to <paramref name="reference"/>).</summary>
    public double Reported(double absDeviation, double reference) =>
        !ReportsRelative || absDeviation == 0 ? absDeviation : absDeviation / reference;

    public override string ToString() => (ReportsRelative, Abs, Rel) switch
    {
        (true, 0, _) => $"{ParityTable.Number(Rel)} rel",
        (true, _, _) => $"{ParityTable.Number(Rel)} rel + {ParityTable.Number(Abs)} abs",
        (false, _, 0) => ParityTable.Number(Abs),
        _ => $"{ParityTable.Number(Abs)} + {ParityTable.Number(Rel)}·|ref|",
    };
}

/// <summary>
/// One line of the parity table: for one fixture (a file, case or record of <c>fixtures/mmdet</c>) and one metric, the
/// largest deviation from MMDetection's value, the tolerance it is held to and whether every value is within it.
/// <paramref name="Worst"/> says where the largest deviation (or the first mismatch) is, for failure messages.
/// </summary>
public sealed record ParityRow(string Family, string Fixture, string Metric, double MaxDeviation, Tolerance Tolerance, bool Pass, string Worst);

/// <summary>Collects the rows of one fixture: numeric comparisons, exact comparisons and counts.</summary>
public sealed class ParityChecks(string family, string fixture)
{
    private readonly List<ParityRow> _rows = [];

    public IReadOnlyList<ParityRow> Rows => _rows;

    /// <summary>
    /// Compares numbers element by element; <paramref name="reference"/> gives the scale of element i for relative
    /// tolerances (default <c>|expected[i]|</c>), <paramref name="names"/> names the elements in messages (default
    /// <c>[i]</c>). A length difference fails the row; the common prefix is still measured. A row that compared no
    /// value (both sides empty) fails too: it would prove nothing.
    /// </summary>
    public void Values(string metric, IReadOnlyList<double> expected, IReadOnlyList<double> actual, Tolerance tolerance,
        Func<int, double>? reference = null, IReadOnlyList<string>? names = null)
    {
        double max = 0, worstFailure = -1;
        int maxAt = -1, failureAt = -1;
        for (int i = 0; i < Math.Min(expected.Count, actual.Count); i++)
        {
            double scale = reference?.Invoke(i) ?? Math.Abs(expected[i]);
            double abs = Math.Abs(actual[i] - expected[i]);
            // NaN compares false everywhere: report it as an infinite deviation so that it cannot pass unnoticed.
            double reported = double.IsNaN(abs) ? double.PositiveInfinity : tolerance.Reported(abs, scale);
            if (reported > max || maxAt < 0) (max, maxAt) = (reported, i);
            if (!tolerance.Allows(abs, scale) && reported > worstFailure) (worstFailure, failureAt) = (reported, i);
        }
        bool sameLength = expected.Count == actual.Count;
        // The message names the failing value with the largest deviation: with an abs + rel tolerance that need not be
        // the largest deviation overall.
        int at = failureAt >= 0 ? failureAt : maxAt;
        var worst = new List<string>();
        if (!sameLength) worst.Add($"{actual.Count} values, expected {expected.Count}");
        worst.Add(at < 0 ? "no values compared" : $"{(names is null ? $"[{at}]" : names[at])}: expected {ParityTable.Precise(expected[at])}, got {ParityTable.Precise(actual[at])}");
        _rows.Add(new ParityRow(family, fixture, metric, max, tolerance, sameLength && failureAt < 0 && at >= 0, string.Join("; ", worst)));
    }

    public void Values(string metric, IReadOnlyList<float> expected, IReadOnlyList<float> actual, Tolerance tolerance) =>
        Values(metric, expected.Select(v => (double)v).ToArray(), actual.Select(v => (double)v).ToArray(), tolerance);

    /// <summary>Exact comparison of named fields; the deviation is the number of differing values. Comparing no value fails.</summary>
    public void Exact(string metric, ExactFields fields) =>
        _rows.Add(new ParityRow(family, fixture, metric, fields.Mismatches, Tolerance.Exact, fields.Mismatches == 0 && fields.Compared > 0, fields.Describe()));

    /// <summary>Exact comparison of two sequences (keys, indices, RLE strings): the number of differing positions.</summary>
    public void Same<T>(string metric, IEnumerable<T> expected, IEnumerable<T> actual) => Exact(metric, new ExactFields().Add(metric, expected, actual));

    /// <summary>A count of failures (unmatched detections, differing config values) with an allowance.</summary>
    public void Count(string metric, int count, int allowed, string detail) =>
        _rows.Add(new ParityRow(family, fixture, metric, count, Tolerance.Count(allowed), count <= allowed, detail));

    /// <summary>A fixture whose measurement made no comparison at all fails: present but unchecked must not look checked.</summary>
    public void NothingCompared() =>
        _rows.Add(new ParityRow(family, fixture, "comparisons", 0, Tolerance.Exact, false, "the fixture was measured but nothing was compared"));

    /// <summary>A fixture whose comparison could not run is a failure of its own, not a reason to stop the table.</summary>
    public void Error(Exception e) =>
        _rows.Add(new ParityRow(family, fixture, "error", double.NaN, Tolerance.Exact, false, e.ToString()));
}

/// <summary>Counts positions where named sequences differ (plus length differences), keeping the first few for messages.</summary>
public sealed class ExactFields
{
    private readonly List<string> _details = [];

    public int Mismatches { get; private set; }

    /// <summary>How many positions were compared (the common length of each pair of sequences, summed).</summary>
    public int Compared { get; private set; }

    public ExactFields Add<T>(string field, IEnumerable<T> expected, IEnumerable<T> actual)
    {
        var e = expected.ToList();
        var a = actual.ToList();
        Compared += Math.Min(e.Count, a.Count);
        for (int i = 0; i < Math.Min(e.Count, a.Count); i++)
        {
            if (!EqualityComparer<T>.Default.Equals(e[i], a[i])) Note($"{field}[{i}]: expected {e[i]}, got {a[i]}");
        }
        if (e.Count != a.Count) Note($"{field}: {a.Count} values, expected {e.Count}", Math.Abs(e.Count - a.Count));
        return this;
    }

    /// <summary>One value (a named overload: with <c>Add</c>, a collection expression would bind to <c>T = T[]</c>).</summary>
    public ExactFields AddValue<T>(string field, T expected, T actual) => Add(field, [expected], [actual]);

    private void Note(string detail, int count = 1)
    {
        if (_details.Count < 5) _details.Add(detail);
        Mismatches += count;
    }

    public string Describe() => (Mismatches, Compared) switch
    {
        (0, 0) => "nothing compared (both sides empty)",
        (0, _) => "equal",
        _ => string.Join("; ", _details) + (Mismatches > _details.Count ? $"; ... ({Mismatches} in all)" : ""),
    };
}

/// <summary>Formats parity rows as an aligned text table and as the TSV report.</summary>
public static class ParityTable
{
    public static readonly string[] Columns = ["family", "fixture", "metric", "max_deviation", "tolerance", "pass"];

    private static string[] Cells(ParityRow r) =>
        [r.Family, r.Fixture, r.Metric, Number(r.MaxDeviation), r.Tolerance.ToString(), r.Pass ? "true" : "false"];

    /// <summary>Integers as integers, other numbers with 4 significant digits, invariant culture.</summary>
    public static string Number(double v)
    {
        if (v == Math.Floor(v) && Math.Abs(v) < 1e7) return v.ToString("0", CultureInfo.InvariantCulture);
        double a = Math.Abs(v);
        return a is >= 1e-3 and < 1e6 ? v.ToString("G4", CultureInfo.InvariantCulture) : v.ToString("0.###e+00", CultureInfo.InvariantCulture);
    }

    /// <summary>Enough digits to tell float32 neighbours apart, for failure messages.</summary>
    public static string Precise(double v) => v.ToString("G9", CultureInfo.InvariantCulture);

    public static string Tsv(IEnumerable<ParityRow> rows) =>
        string.Join('\t', Columns) + "\n" + string.Concat(rows.Select(r => string.Join('\t', Cells(r)) + "\n"));

    /// <summary>Space-aligned lines: the header, then one line per row (and its worst value when asked).</summary>
    public static IReadOnlyList<string> Lines(IReadOnlyList<ParityRow> rows, bool withWorst = false)
    {
        var cells = rows.Select(Cells).Prepend(Columns).ToList();
        var widths = Enumerable.Range(0, Columns.Length).Select(c => cells.Max(r => r[c].Length)).ToArray();
        return cells.Select((r, i) =>
        {
            string line = string.Join("  ", r.Select((cell, c) => c == r.Length - 1 ? cell : cell.PadRight(widths[c])));
            return withWorst && i > 0 ? $"{line}  ({rows[i - 1].Worst})" : line;
        }).ToList();
    }
}

/// <summary>Asserts parity rows, failing with the table of the rows that are out of tolerance.</summary>
public static class ParityAssert
{
    /// <summary>Every row passes, and there is at least one: a check that compared nothing must not pass silently.</summary>
    public static void AllPass(IReadOnlyCollection<ParityRow> rows)
    {
        Assert.True(rows.Count > 0, "no parity comparisons were made: the fixture is there but nothing was compared");
        var failures = rows.Where(r => !r.Pass).ToList();
        Assert.True(failures.Count == 0,
            $"{failures.Count} parity check(s) out of tolerance:\n" + string.Join("\n", ParityTable.Lines(failures, withWorst: true)));
    }
}
