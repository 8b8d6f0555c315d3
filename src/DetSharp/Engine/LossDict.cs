using System.Collections;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Engine;

/// <summary>
/// A detector's named losses in order. Each entry is one tensor or a list of tensors (per-level losses, as MMDetection's
/// dense heads return). Add with the collection initializer: <c>new LossDict { { "loss_cls", t }, { "loss_rpn_bbox", [l1, l2] } }</c>.
/// </summary>
public sealed class LossDict : IEnumerable<KeyValuePair<string, IReadOnlyList<Tensor>>>
{
    private readonly List<KeyValuePair<string, IReadOnlyList<Tensor>>> _items = [];

    public int Count => _items.Count;

    public IReadOnlyList<Tensor> this[string name]
    {
        get => _items.First(kv => kv.Key == name).Value;
        set
        {
            int at = _items.FindIndex(kv => kv.Key == name);
            var entry = new KeyValuePair<string, IReadOnlyList<Tensor>>(name, value);
            if (at >= 0) _items[at] = entry;
            else _items.Add(entry);
        }
    }

    public void Add(string name, Tensor loss) => this[name] = [loss];

    public void Add(string name, IReadOnlyList<Tensor> losses) => this[name] = losses;

    public IEnumerator<KeyValuePair<string, IReadOnlyList<Tensor>>> GetEnumerator() => _items.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public static implicit operator LossDict(Dictionary<string, Tensor> losses)
    {
        var dict = new LossDict();
        foreach (var (k, v) in losses) dict.Add(k, v);
        return dict;
    }
}

/// <summary>The parsed outputs of one iteration: the total loss to back-propagate and the logged scalars.</summary>
public sealed record ParsedLosses(Tensor Loss, IReadOnlyList<KeyValuePair<string, double>> LogVars);

/// <summary>MMDetection's <c>BaseDetector._parse_losses</c>.</summary>
public static class LossParser
{
    /// <summary>
    /// Each entry becomes the mean of its tensor (or the sum of the means of its list); <c>loss</c> = the sum of
    /// every entry whose name contains "loss"; all entries and <c>loss</c> (last) are logged as scalars.
    /// </summary>
    public static ParsedLosses Parse(LossDict losses)
    {
        var means = new List<(string Name, Tensor Value)>();
        foreach (var (name, tensors) in losses)
        {
            if (tensors.Count == 0)
                throw new DetSharpException($"the loss '{name}' is an empty list of tensors.");
            Tensor sum = tensors[0].mean();
            for (int i = 1; i < tensors.Count; i++) sum = sum + tensors[i].mean();
            means.Add((name, sum));
        }
        var lossTerms = means.Where(m => m.Name.Contains("loss", StringComparison.Ordinal)).Select(m => m.Value).ToList();
        if (lossTerms.Count == 0)
            throw new DetSharpException($"the detector returned no entry whose name contains 'loss' (got: {string.Join(", ", means.Select(m => m.Name))}).");
        Tensor total = lossTerms[0];
        for (int i = 1; i < lossTerms.Count; i++) total = total + lossTerms[i];
        var logVars = new List<KeyValuePair<string, double>>(means.Count + 1);
        foreach (var (name, value) in means) logVars.Add(new(name, value.detach().cpu().ToDouble()));
        logVars.Add(new("loss", total.detach().cpu().ToDouble()));
        return new ParsedLosses(total, logVars);
    }
}
