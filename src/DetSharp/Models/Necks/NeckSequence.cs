using DetSharp.Config;
using DetSharp.Models.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Necks;

/// <summary>
/// A detector's <c>neck</c> given as a list (<c>neck=[dict(type='FPN', ...), dict(type='BFP', ...)]</c>): MMDetection
/// builds <c>nn.Sequential</c> of the necks, each fed the previous one's maps, so their keys are <c>neck.0.*</c>,
/// <c>neck.1.*</c>.
/// </summary>
public sealed class NeckSequence : nn.Module<Tensor[], Tensor[]>
{
    /// <summary>Submodules are registered explicitly under their list indices; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private readonly nn.Module<Tensor[], Tensor[]>[] _necks;

    private NeckSequence(nn.Module<Tensor[], Tensor[]>[] necks)
        : base(nameof(NeckSequence))
    {
        _necks = necks;
        for (int i = 0; i < necks.Length; i++) register_module(i.ToString(System.Globalization.CultureInfo.InvariantCulture), necks[i]);
    }

    /// <summary>The necks in order.</summary>
    public IReadOnlyList<nn.Module<Tensor[], Tensor[]>> Necks => _necks;

    /// <summary>MMDetection's <c>build_neck</c> for a detector's <c>neck</c> value: one dict, or a list of dicts.</summary>
    public static nn.Module<Tensor[], Tensor[]> Build(object neck) => neck switch
    {
        ConfigDict one => Builders.Model<nn.Module<Tensor[], Tensor[]>>(one),
        List<object?> list when list.Count > 0 && list.All(n => n is ConfigDict) =>
            new NeckSequence(list.Select(n => Builders.Model<nn.Module<Tensor[], Tensor[]>>((ConfigDict)n!)).ToArray()),
        _ => throw new DetSharpException(
            $"model.neck must be a dict or a non-empty list of dicts (e.g. neck=[dict(type='FPN', ...), dict(type='BFP', ...)]), got {ConfigValue.Describe(neck)}."),
    };

    public override Tensor[] forward(Tensor[] inputs)
    {
        using var scope = NewDisposeScope();
        var x = inputs;
        foreach (var neck in _necks) x = neck.forward(x);
        foreach (var t in x) t.MoveToOuterDisposeScope();
        return x;
    }
}
