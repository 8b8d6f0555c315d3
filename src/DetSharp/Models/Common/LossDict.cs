using static TorchSharp.torch;

namespace DetSharp.Models.Common;

/// <summary>
/// The losses a model returns, in insertion order, named as MMDetection logs them. A value may be a list of tensors
/// (the RPN's per-level losses); <see cref="Parse"/> reduces them like MMDetection's <c>_parse_losses</c>.
/// </summary>
public sealed class LossDict
{
    private readonly List<(string Key, Tensor[] Values)> _items = [];

    public IEnumerable<string> Keys => _items.Select(i => i.Key);

    public void Add(string key, Tensor value) => _items.Add((key, [value]));

    public void Add(string key, Tensor[] values) => _items.Add((key, values));

    public IReadOnlyList<(string Key, Tensor[] Values)> Items => _items;

    /// <summary>One tensor per key: the mean of a tensor, the sum of the means of a list.</summary>
    public Dictionary<string, Tensor> Reduced()
    {
        var result = new Dictionary<string, Tensor>();
        foreach (var (key, values) in _items)
        {
            result[key] = values.Length == 1 ? values[0].mean() : stack(values.Select(v => v.mean()).ToArray()).sum();
        }
        return result;
    }

    /// <summary>
    /// <c>_parse_losses</c>: the total loss (sum of every entry whose key contains "loss") and the logged values
    /// (every entry plus <c>loss</c>) as doubles.
    /// </summary>
    public (Tensor Total, Dictionary<string, double> LogVars) Parse()
    {
        var reduced = Reduced();
        var parts = reduced.Where(kv => kv.Key.Contains("loss", StringComparison.Ordinal)).Select(kv => kv.Value).ToArray();
        var total = parts.Length == 0 ? tensor(0f) : stack(parts).sum();
        var log = new Dictionary<string, double>();
        foreach (var (k, v) in reduced) log[k] = v.item<float>();
        log["loss"] = total.item<float>();
        return (total, log);
    }

    /// <summary>Moves every tensor to the enclosing dispose scope.</summary>
    public LossDict MoveToOuterDisposeScope()
    {
        foreach (var (_, values) in _items)
            foreach (var v in values) v.MoveToOuterDisposeScope();
        return this;
    }

    /// <summary>Disposes every tensor.</summary>
    public void DisposeAll()
    {
        foreach (var (_, values) in _items)
            foreach (var v in values) v.Dispose();
    }
}
