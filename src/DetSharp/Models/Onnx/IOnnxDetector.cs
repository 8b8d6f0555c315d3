namespace DetSharp.Models.Onnx;

/// <summary>
/// A detector that writes its whole <c>simple_test</c> for one image into an ONNX graph (features, heads, box decoding,
/// NMS), as MMDeploy exports it; <see cref="OnnxDetectorExport"/> declares the inputs and outputs around it.
/// </summary>
public interface IOnnxDetector
{
    /// <summary>Adds the detection nodes for <paramref name="inputs"/>; returns the values that become the graph's outputs.</summary>
    OnnxDetections ExportSimpleTest(OnnxExportContext ctx, OnnxImageInputs inputs);
}

/// <summary>
/// The graph inputs of an exported detector and what the export knows of them: <see cref="Img"/> is the normalized,
/// padded image [1, 3, H, W]; <see cref="ImgShape"/> is mmdet's <c>img_shape</c> (height, width of the resized image
/// inside the padding, float [2]), the bounds boxes are clipped to; <see cref="BoxMax"/> is it as (w, h, w, h) for
/// clipping x1, y1, x2, y2. <see cref="FeatmapSizes"/> are the sizes of the feature levels for a fixed input size (the
/// priors become constants for them), null for a dynamic export (H and W are symbolic, and every size, the priors
/// included, is computed in the graph from the feature maps' shapes).
/// </summary>
public sealed record OnnxImageInputs(string Img, string ImgShape, string BoxMax, IReadOnlyList<(long H, long W)>? FeatmapSizes);

/// <summary>
/// A detector's outputs: <c>dets</c> [N, 5] (x1, y1, x2, y2, score) in the coordinates of the resized image, score
/// descending; <c>labels</c> [N] int64; <c>masks</c> [N, h, w] mask probabilities of the detections (none for a
/// box-only detector).
/// </summary>
public sealed record OnnxDetections(string Dets, string Labels, string? Masks = null);
