using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Common;

/// <summary>
/// PyTorch's <c>nn.ModuleList</c> holding <c>None</c> entries, as MMDetection's HRNet builds its transition and fuse
/// layers: entry <c>i</c> is registered under <c>"i"</c> only where it is present, so the state-dict keys skip the gaps
/// exactly as PyTorch's do (<c>transition1.1.0.0.weight</c> with no <c>transition1.0</c>). TorchSharp's ModuleList takes
/// no nulls.
/// </summary>
public sealed class OptionalModuleList<T> : nn.Module
    where T : nn.Module
{
    /// <summary>Submodules are registered explicitly under their indices; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private readonly T?[] _items;

    public OptionalModuleList(IEnumerable<T?> items)
        : base("ModuleList")
    {
        _items = items.ToArray();
        for (int i = 0; i < _items.Length; i++)
        {
            if (_items[i] is { } item)
                register_module(i.ToString(System.Globalization.CultureInfo.InvariantCulture), item);
        }
    }

    /// <summary>Entry <paramref name="index"/>, null where the list holds <c>None</c>.</summary>
    public T? this[int index] => _items[index];

    /// <summary>Entries, gaps included.</summary>
    public int Count => _items.Length;
}
