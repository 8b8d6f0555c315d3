namespace DetSharp.Models.Onnx;

/// <summary>
/// A module that writes its own eval-mode forward into an ONNX graph. TorchSharp cannot trace a C# forward, so every
/// DetSharp module that can be exported implements this beside <c>forward</c>, in the same class, node for node: a change
/// to one is seen next to the other. Submodules are written through <see cref="OnnxExportContext.Forward(TorchSharp.torch.nn.Module, string)"/>
/// (which also knows TorchSharp's own layers), weights become initializers named by their state-dict keys.
/// </summary>
public interface IOnnxExportable
{
    /// <summary>
    /// Adds the nodes of <c>forward</c> for <paramref name="inputs"/> (graph value names, in forward's argument order:
    /// one image for a backbone, the levels for a neck) and returns the names of its outputs in forward's order.
    /// </summary>
    IReadOnlyList<string> ExportOnnx(OnnxExportContext ctx, IReadOnlyList<string> inputs);
}
