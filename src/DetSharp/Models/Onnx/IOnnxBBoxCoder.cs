namespace DetSharp.Models.Onnx;

/// <summary>A box coder whose <c>decode</c> can be written into an ONNX graph (the coder writes it beside its Decode).</summary>
public interface IOnnxBBoxCoder
{
    /// <summary>
    /// Boxes [.., 4] from <paramref name="priors"/> and the regression <paramref name="pred"/> (broadcast over their
    /// leading dimensions), clipped to <paramref name="boxMax"/> ((w, h, w, h)) when given and the coder clips.
    /// </summary>
    string ExportDecode(OnnxExportContext ctx, string priors, string pred, string? boxMax, string name);
}
