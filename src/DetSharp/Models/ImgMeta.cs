namespace DetSharp.Models;

/// <summary>
/// MMDetection's per-image <c>img_meta</c> as the models read it. Shapes are (height, width) of the image after
/// Resize (<c>img_shape</c>), as loaded (<c>ori_shape</c>) and after Pad (<c>pad_shape</c>);
/// <c>scale_factor</c> is <c>[w_scale, h_scale, w_scale, h_scale]</c> (float32, as the Resize transform stores it).
/// </summary>
public sealed record ImgMeta(
    (int Height, int Width) ImgShape,
    (int Height, int Width) OriShape,
    (int Height, int Width) PadShape,
    float[] ScaleFactor,
    bool Flip = false,
    string? FlipDirection = null,
    string? Filename = null)
{
    /// <summary>A meta for an image fed at its own size (no resize, no padding).</summary>
    public static ImgMeta Unscaled(int height, int width, string? filename = null) =>
        new((height, width), (height, width), (height, width), [1f, 1f, 1f, 1f], Filename: filename);
}
