using System.Diagnostics;
using System.Globalization;

namespace DetSharp.Logging;

/// <summary>
/// mmcv's <c>ProgressBar</c>: <c>[&gt;&gt;&gt;&gt;&gt;     ] 5/10, 2.0 task/s, elapsed: 3s, ETA:     3s</c>, redrawn in place on an
/// interactive terminal and written once, when complete, otherwise. DetSharp's one progress display: <c>detsharp test</c>
/// and <c>infer</c> draw it, and the training status line (TextLoggerHook) shows its <see cref="Bar"/>.
/// </summary>
public sealed class ProgressBar(int total, TextWriter output, bool interactive, int width = 40)
{
    private readonly StatusLine? _line = interactive ? new StatusLine(output) : null;
    private readonly long _start = Stopwatch.GetTimestamp();

    public int Completed { get; private set; }

    /// <summary>Counts one more task done (or sets the count) and redraws.</summary>
    public void Update(int? completed = null)
    {
        Completed = completed ?? Completed + 1;
        string text = Render(Completed, total, Stopwatch.GetElapsedTime(_start).TotalSeconds, width);
        if (_line is not null) _line.Show(text);
        else if (Completed == total) output.Write(text);
    }

    /// <summary>Ends the bar's line.</summary>
    public void Finish()
    {
        if (_line is not null) _line.Finish();
        else output.WriteLine();
    }

    /// <summary>The bar and counts: <c>[&gt;&gt;&gt;&gt;      ] 4/10</c> (just the count when the total is unknown).</summary>
    public static string Bar(int done, int total, int width = 40)
    {
        if (total <= 0) return done.ToString(CultureInfo.InvariantCulture);
        return $"{Filled((double)done / total, width)} {done}/{total}";
    }

    /// <summary>The bar alone for a fraction done: <c>[&gt;&gt;&gt;&gt;      ]</c> (checkpoint downloads count bytes, not tasks).</summary>
    public static string Filled(double fraction, int width = 40)
    {
        int filled = (int)(width * Math.Clamp(fraction, 0, 1));
        return $"[{new string('>', filled)}{new string(' ', width - filled)}]";
    }

    /// <summary>mmcv's full line: bar, rate, elapsed and estimated remaining seconds.</summary>
    public static string Render(int done, int total, double elapsedSeconds, int width = 40)
    {
        double rate = done / Math.Max(elapsedSeconds, 1e-9);
        long eta = (long)Math.Round((total - done) / Math.Max(rate, 1e-9));
        return string.Create(CultureInfo.InvariantCulture,
            $"{Bar(done, total, width)}, {rate:F1} task/s, elapsed: {(long)Math.Round(elapsedSeconds)}s, ETA: {eta,5}s");
    }
}
