namespace DetSharp.Logging;

/// <summary>
/// mmcv's <c>LogBuffer</c>: the history of logged scalars with their sample counts, averaged over the last n
/// updates (weighted by count) into <see cref="Output"/>, which the logger hooks print and then clear.
/// </summary>
public sealed class LogBuffer
{
    private readonly Dictionary<string, List<double>> _values = [];
    private readonly Dictionary<string, List<int>> _counts = [];
    private readonly List<string> _order = [];

    /// <summary>What the next log line shows: averages, plus anything put here directly (evaluation metrics).</summary>
    public OrderedDictionary<string, object?> Output { get; } = [];

    public bool Ready { get; set; }

    public void Update(IEnumerable<KeyValuePair<string, double>> vars, int count = 1)
    {
        foreach (var (key, value) in vars)
        {
            if (!_values.TryGetValue(key, out var list))
            {
                list = [];
                _values[key] = list;
                _counts[key] = [];
                _order.Add(key);
            }
            list.Add(value);
            _counts[key].Add(count);
        }
    }

    /// <summary>Weighted average of the latest <paramref name="n"/> values of every key (all when n ≤ 0).</summary>
    public void Average(int n = 0)
    {
        foreach (var key in _order)
        {
            var values = _values[key];
            var counts = _counts[key];
            int start = n > 0 ? Math.Max(0, values.Count - n) : 0;
            double sum = 0, total = 0;
            for (int i = start; i < values.Count; i++)
            {
                sum += values[i] * counts[i];
                total += counts[i];
            }
            Output[key] = sum / total;
        }
        Ready = true;
    }

    public void Clear()
    {
        _values.Clear();
        _counts.Clear();
        _order.Clear();
        ClearOutput();
    }

    public void ClearOutput()
    {
        Output.Clear();
        Ready = false;
    }
}
