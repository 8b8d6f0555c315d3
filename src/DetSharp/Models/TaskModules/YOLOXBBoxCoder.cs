using static TorchSharp.torch;

namespace DetSharp.Models.TaskModules;

/// <summary>
/// YOLOX's box encoding, which MMDetection keeps inside <c>YOLOXHead</c> (<c>_bbox_decode</c>, <c>_get_l1_target</c>):
/// priors are points with strides (x, y, stride_w, stride_h); a prediction (dx, dy, dw, dh) is the box centred at
/// (x + dx·stride_w, y + dy·stride_h) of size (exp(dw)·stride_w, exp(dh)·stride_h); encoding inverts it, with log(w/stride + 1e-8).
/// Boxes are not clipped.
/// </summary>
public sealed class YOLOXBBoxCoder : IBBoxCoder
{
    /// <summary><c>_get_l1_target</c>: (centre offset / stride, log(size / stride + 1e-8)) of <paramref name="gtBboxes"/> [N, 4].</summary>
    public Tensor Encode(Tensor priors, Tensor gtBboxes)
    {
        using var scope = NewDisposeScope();
        // bbox_xyxy_to_cxcywh
        var centre = (gtBboxes[.., ..2] + gtBboxes[.., 2..]) / 2;
        var size = gtBboxes[.., 2..] - gtBboxes[.., ..2];
        var xy = (centre - priors[.., ..2]) / priors[.., 2..];
        var wh = (size / priors[.., 2..] + 1e-8).log();
        return cat([xy, wh], -1).MoveToOuterDisposeScope();
    }

    /// <summary><c>_bbox_decode</c>: <paramref name="pred"/> [..., N, 4] around <paramref name="priors"/> [N, 4]; <paramref name="maxShape"/> is ignored (YOLOX does not clip).</summary>
    public Tensor Decode(Tensor priors, Tensor pred, (int Height, int Width)? maxShape = null)
    {
        using var scope = NewDisposeScope();
        var stride = priors[.., 2..];
        var xys = pred[TensorIndex.Ellipsis, ..2] * stride + priors[.., ..2];
        var whs = pred[TensorIndex.Ellipsis, 2..].exp() * stride;
        var half = whs / 2;
        return cat([xys - half, xys + half], -1).MoveToOuterDisposeScope();
    }
}
