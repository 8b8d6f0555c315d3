namespace DetSharp.Analysis;

/// <summary>Per-epoch timing summary of MMDetection's <c>analyze_logs.py cal_train_time</c>.</summary>
public sealed record TrainTimeSummary(
    int SlowestEpoch, double SlowestEpochTime, int FastestEpoch, double FastestEpochTime, double StdOverEpochs, double MeanIterTime);

/// <summary>One curve of <c>plot_curve</c>: x values (epochs for mAP metrics, iterations otherwise) and y values.</summary>
public sealed record Curve(string Label, string XLabel, double[] Xs, double[] Ys, bool PerEpoch);

/// <summary>MMDetection's <c>tools/analysis_tools/analyze_logs.py</c> computations, without the plotting.</summary>
public static class LogAnalysis
{
    /// <summary>
    /// <c>cal_train_time</c>: the mean <c>time</c> per epoch (dropping each epoch's first record unless
    /// <paramref name="includeOutliers"/>), the slowest and fastest epoch, their std and the mean s/iter.
    /// </summary>
    public static TrainTimeSummary CalTrainTime(JsonTrainingLog log, bool includeOutliers = false)
    {
        var epochMeans = new List<double>();
        var epochNumbers = new List<int>();
        double sum = 0;
        long count = 0;
        foreach (int epoch in log.Epochs)
        {
            var times = log.Values(epoch, "time");
            int skip = includeOutliers ? 0 : 1;
            if (times.Count <= skip) continue;
            double epochSum = 0;
            for (int i = skip; i < times.Count; i++) epochSum += JsonTrainingLog.Number(times[i]);
            epochMeans.Add(epochSum / (times.Count - skip));
            epochNumbers.Add(epochNumbers.Count + 1);
            sum += epochSum;
            count += times.Count - skip;
        }
        if (epochMeans.Count == 0)
            throw new DetSharpException(
                $"{log.Path}: no training 'time' records to analyse; reduce log_config.interval so that it is less than the iterations of one epoch.");
        int slowest = 0, fastest = 0;
        for (int i = 1; i < epochMeans.Count; i++)
        {
            if (epochMeans[i] > epochMeans[slowest]) slowest = i;
            if (epochMeans[i] < epochMeans[fastest]) fastest = i;
        }
        double mean = epochMeans.Average();
        double variance = 0;
        foreach (double m in epochMeans) variance += (m - mean) * (m - mean);
        double std = Math.Sqrt(variance / epochMeans.Count); // numpy's std: population (ddof=0)
        return new TrainTimeSummary(slowest + 1, epochMeans[slowest], fastest + 1, epochMeans[fastest], std, sum / count);
    }

    /// <summary>
    /// <c>plot_curve</c>'s data: a metric containing <c>mAP</c> is taken from val records, one point per epoch;
    /// any other key per logged iteration, with x = iter + (epoch − 1) · iterations per epoch, where the
    /// iterations per epoch are the last training record's <c>iter</c> in the first epoch (as MMDetection).
    /// </summary>
    public static Curve Curve(JsonTrainingLog log, string metric, string label, int evalInterval = 1)
    {
        var epochs = log.Epochs.ToList();
        int probe = epochs[Math.Clamp(evalInterval - 1, 0, epochs.Count - 1)];
        if (!log.Has(probe, metric))
        {
            string why = metric.Contains("mAP", StringComparison.Ordinal)
                ? "Was the model trained with --no-validate, or is evaluation.interval larger than the epochs logged?"
                : "Reduce log_config.interval so that it is less than the iterations of one epoch.";
            throw new DetSharpException($"{log.Path} does not contain the metric '{metric}' in epoch {probe}. {why}");
        }
        var xs = new List<double>();
        var ys = new List<double>();
        if (metric.Contains("mAP", StringComparison.Ordinal))
        {
            foreach (int epoch in epochs)
            {
                var modes = log.Values(epoch, "mode");
                var values = log.Values(epoch, metric);
                int v = 0;
                foreach (var mode in modes)
                {
                    if (mode.GetString() != "val") continue;
                    if (v < values.Count)
                    {
                        xs.Add(epoch);
                        ys.Add(JsonTrainingLog.Number(values[v++]));
                    }
                }
            }
            return new Curve(label, "epoch", [.. xs], [.. ys], PerEpoch: true);
        }
        int itersPerEpoch = LastTrainIter(log, epochs[0]);
        foreach (int epoch in epochs)
        {
            var modes = log.Values(epoch, "mode");
            var iters = log.Values(epoch, "iter");
            var values = log.Values(epoch, metric);
            int v = 0;
            for (int r = 0; r < modes.Count && r < iters.Count; r++)
            {
                if (modes[r].GetString() != "train") continue;
                if (v >= values.Count) break;
                xs.Add(iters[r].GetDouble() + (epoch - 1) * (double)itersPerEpoch);
                ys.Add(JsonTrainingLog.Number(values[v++]));
            }
        }
        return new Curve(label, "iter", [.. xs], [.. ys], PerEpoch: false);
    }

    /// <summary>
    /// The curves of those <paramref name="metrics"/> that <paramref name="log"/> holds, each from the first epoch that
    /// logged it; absent ones are left out (where <see cref="Curve"/> stops, as MMDetection's plot_curve does) — for plots
    /// that must be drawn whatever the run logged, such as the demo's.
    /// </summary>
    public static List<Curve> CurvesPresent(JsonTrainingLog log, IEnumerable<string> metrics)
    {
        var epochs = log.Epochs.ToList();
        var curves = new List<Curve>();
        foreach (var metric in metrics)
        {
            int first = epochs.FindIndex(e => log.Has(e, metric));
            if (first >= 0) curves.Add(Curve(log, metric, metric, first + 1));
        }
        return curves;
    }

    private static int LastTrainIter(JsonTrainingLog log, int epoch)
    {
        var modes = log.Values(epoch, "mode");
        var iters = log.Values(epoch, "iter");
        int last = 0;
        for (int r = 0; r < modes.Count && r < iters.Count; r++)
            if (modes[r].GetString() == "train") last = iters[r].GetInt32();
        return last;
    }
}
