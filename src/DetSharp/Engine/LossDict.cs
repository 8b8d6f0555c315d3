using System.Collections;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Engine;

/// <summary>
/// A detector's named losses in order (the one loss dictionary of DetSharp: heads, detectors and the engine use it).
/// Each entry is one tensor or a list of tensors (per-level losses, as MMDetection's dense heads return). Add with the
/// collection initializer: <c>new LossDict { { "loss_cls", t }, { "loss_rpn_bbox", [l1, l2] } }</c>. Adding an existing
/// name replaces its entry in place.
/// </summary>
public sealed class LossDict : IEnumerable<KeyValuePair<string, IReadOnlyList<Tensor>>>
{
    private readonly List<(string Key, Tensor[] Values)> _items = [];

    public int Count => _items.Count;

    public IEnumerable<string> Keys => _items.Select(i => i.Key);

    /// <summary>The entries in order (a single tensor is a one-element array).</summary>
    public IReadOnlyList<(string Key, Tensor[] Values)> Items => _items;

    public IReadOnlyList<Tensor> this[string name]
    {
        get
        {
            int at = _items.FindIndex(kv => kv.Key == name);
            return at >= 0 ? _items[at].Values : throw new KeyNotFoundException($"no loss named '{name}'.");
        }
        set
        {
            int at = _items.FindIndex(kv => kv.Key == name);
            var entry = (name, value.ToArray());
            if (at >= 0) _items[at] = entry;
            else _items.Add(entry);
        }
    }

    public void Add(string name, Tensor loss) => this[name] = [loss];

    public void Add(string name, IReadOnlyList<Tensor> losses) => this[name] = losses;

    public IEnumerator<KeyValuePair<string, IReadOnlyList<Tensor>>> GetEnumerator() =>
        _items.Select(i => new KeyValuePair<string, IReadOnlyList<Tensor>>(i.Key, i.Values)).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public static implicit operator LossDict(Dictionary<string, Tensor> losses)
    {
        var dict = new LossDict();
        foreach (var (k, v) in losses) dict.Add(k, v);
        return dict;
    }

    /// <summary>One tensor per key: the mean of a tensor, the sum of the means of a list.</summary>
    public Dictionary<string, Tensor> Reduced()
    {
        var result = new Dictionary<string, Tensor>();
        foreach (var (key, values) in _items) result[key] = LossParser.Reduce(key, values);
        return result;
    }

    /// <summary><see cref="LossParser.Parse"/> as a tuple: the total loss and the logged values (every entry, then <c>loss</c>).</summary>
    public (Tensor Total, Dictionary<string, double> LogVars) Parse()
    {
        var parsed = LossParser.Parse(this);
        var log = new Dictionary<string, double>();
        foreach (var (k, v) in parsed.LogVars) log[k] = v;
        return (parsed.Loss, log);
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
        foreach (var (name, tensors) in losses.Items) means.Add((name, Reduce(name, tensors)));
        var lossTerms = means.Where(m => m.Name.Contains("loss", StringComparison.Ordinal)).Select(m => m.Value).ToList();
        if (lossTerms.Count == 0)
            throw new DetSharpException($"the detector returned no entry whose name contains 'loss' (got: {string.Join(", ", means.Select(m => m.Name))}).");
        Tensor total = lossTerms[0];
        for (int i = 1; i < lossTerms.Count; i++) total = total + lossTerms[i];
        var logVars = new List<KeyValuePair<string, double>>(means.Count + 1);
        foreach (var (name, value) in means) logVars.Add(new(name, ScalarValue(value)));
        logVars.Add(new("loss", ScalarValue(total)));
        return new ParsedLosses(total, logVars);
    }

    internal static Tensor Reduce(string name, IReadOnlyList<Tensor> tensors)
    {
        if (tensors.Count == 0)
            throw new DetSharpException($"the loss '{name}' is an empty list of tensors.");
        Tensor sum = tensors[0].mean();
        for (int i = 1; i < tensors.Count; i++) sum = sum + tensors[i].mean();
        return sum;
    }

    /// <summary>
    /// A one-element tensor's value, read from its memory. Deliberately not <c>item&lt;T&gt;()</c> / <c>ToDouble()</c>:
    /// those go through a native <c>c10::Scalar</c> whose managed wrapper is not kept alive across the native call, so
    /// the finalizer thread can free it mid-call ("toFloat ... Expected false to be true", seen intermittently).
    /// </summary>
    public static double ScalarValue(Tensor value)
    {
        using var scope = NewDisposeScope();
        var t = value.detach().cpu().to_type(ScalarType.Float64).contiguous();
        if (t.numel() != 1) throw new DetSharpException($"expected a one-element tensor, got shape [{string.Join(", ", value.shape)}].");
        return t.data<double>()[0];
    }
}
