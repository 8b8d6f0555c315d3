using DetSharp.Analysis;

namespace DetSharp.Cli;

/// <summary>Draws <see cref="Curve"/>s with ScottPlot: markers for per-epoch metrics, thin lines for per-iteration ones.</summary>
internal static class CurvePlot
{
    public static void Save(IReadOnlyList<Curve> curves, string? title, string path, int width, int height)
    {
        var plot = new ScottPlot.Plot();
        foreach (var curve in curves)
        {
            var scatter = plot.Add.Scatter(curve.Xs, curve.Ys);
            scatter.LegendText = curve.Label;
            if (curve.PerEpoch)
            {
                scatter.MarkerSize = 7;
                scatter.LineWidth = 1.5f;
            }
            else
            {
                scatter.MarkerSize = 0;
                scatter.LineWidth = 1;
            }
        }
        // One x label: MMDetection plots mAP keys against epochs and the rest against iterations.
        plot.XLabel(curves.Count > 0 ? curves[^1].XLabel : "iter");
        if (title is not null) plot.Title(title);
        plot.ShowLegend();
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        // Write beside, then move: a failed render never leaves a truncated PNG where the user expects one.
        string temp = full + ".tmp.png";
        plot.SavePng(temp, width, height);
        File.Move(temp, full, overwrite: true);
    }
}
