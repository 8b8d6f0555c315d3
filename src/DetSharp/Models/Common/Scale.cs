using DetSharp.Models.Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Common;

/// <summary>mmcv's <c>Scale</c>: multiplies its input by one learnable scalar <c>scale</c> (a per-level factor in FCOS-style heads).</summary>
public sealed class Scale : nn.Module<Tensor, Tensor>, IOnnxExportable
{
    private readonly TorchSharp.Modules.Parameter _scale;

    public Scale(double scale = 1.0)
        : base(nameof(Scale))
    {
        _scale = new TorchSharp.Modules.Parameter(tensor((float)scale));
        register_parameter("scale", _scale);
    }

    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    public override Tensor forward(Tensor x) => x * _scale;

    public IReadOnlyList<string> ExportOnnx(OnnxExportContext ctx, IReadOnlyList<string> inputs) =>
        [ctx.Mul(inputs[0], ctx.Weight(this, "scale", _scale), ctx.ValueName(this))];
}
