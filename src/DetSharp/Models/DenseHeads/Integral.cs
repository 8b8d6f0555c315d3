using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.DenseHeads;

/// <summary>
/// GFL's <c>Integral</c>: each side's distance as the expectation of a softmax distribution over the bins 0..reg_max
/// (in stride units). The bin values are the buffer <c>project</c> (linspace(0, reg_max, reg_max + 1)), which MMDetection
/// saves in the state dict.
/// </summary>
public sealed class Integral : nn.Module<Tensor, Tensor>
{
    private readonly Tensor _project;

    public Integral(int regMax = 16)
        : base(nameof(Integral))
    {
        RegMax = regMax;
        _project = linspace(0, regMax, regMax + 1);
        register_buffer("project", _project);
    }

    public int RegMax { get; }

    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    /// <summary>[..., 4·(reg_max + 1)] logits → [M, 4] distances.</summary>
    public override Tensor forward(Tensor x)
    {
        var p = nn.functional.softmax(x.reshape(-1, RegMax + 1), 1);
        return nn.functional.linear(p, _project.to_type(p.dtype).unsqueeze(0)).reshape(-1, 4);
    }
}
