namespace DetSharp.Structures;

/// <summary>
/// MMDetection's <c>BaseInstanceMasks</c>: the ground-truth masks of one image, as bitmaps (<c>BitmapMasks</c>) or
/// polygons (<c>PolygonMasks</c>). Transforms produce new instances; heads read mask targets through
/// <see cref="CropAndResize"/>.
/// </summary>
public interface IInstanceMasks
{
    /// <summary>Number of instances.</summary>
    int Count { get; }

    /// <summary>Height of the image the masks live in.</summary>
    int Height { get; }

    /// <summary>Width of the image the masks live in.</summary>
    int Width { get; }

    /// <summary>
    /// MMDetection's <c>crop_and_resize</c> as used for mask targets: for each i, crop mask <c>indices[i]</c> to
    /// <c>boxes[4*i..4*i+4]</c> (x1, y1, x2, y2 in this image's pixels) and resize it to <paramref name="outHeight"/> ×
    /// <paramref name="outWidth"/>; binarized (0 or 1). Returns <c>indices.Length × outHeight × outWidth</c> values,
    /// row-major.
    /// </summary>
    float[] CropAndResize(ReadOnlySpan<float> boxes, ReadOnlySpan<int> indices, int outHeight, int outWidth);

    /// <summary>Pixel counts of each mask (MMDetection's <c>areas</c>; polygon masks: shoelace areas).</summary>
    double[] Areas();

    /// <summary>The instances at <paramref name="indices"/>, in that order (MMDetection's <c>masks[inds]</c>).</summary>
    IInstanceMasks Select(ReadOnlySpan<int> indices);

    /// <summary>Resizes to exactly <paramref name="outHeight"/>×<paramref name="outWidth"/> (bitmaps: nearest; polygons: scaled per axis).</summary>
    IInstanceMasks Resize(int outHeight, int outWidth);

    /// <summary>Keep-ratio resize to the size mmcv's <c>rescale_size</c> gives for the scale tuple (a, b).</summary>
    IInstanceMasks Rescale(int scaleA, int scaleB);

    /// <summary>Mirrors horizontally, vertically or both (no −1: x' = W − x for polygons).</summary>
    IInstanceMasks Flip(FlipDirection direction);

    /// <summary>Pads bottom/right to the given size (polygons only take the new size).</summary>
    IInstanceMasks Pad(int outHeight, int outWidth, byte padValue = 0);

    /// <summary>Crops to the box x1, y1, x2, y2 (clipped to the image; at least 1 pixel each way).</summary>
    IInstanceMasks Crop(int x1, int y1, int x2, int y2);

    /// <summary>Rotates clockwise by <paramref name="angle"/> degrees about the centre onto an out-size canvas (fill 0).</summary>
    IInstanceMasks Rotate(int outHeight, int outWidth, double angle, double centerX, double centerY, double scale = 1.0);

    /// <summary>Shifts by <paramref name="offset"/> pixels (fill 0).</summary>
    IInstanceMasks Translate(int outHeight, int outWidth, double offset, AxisDirection direction);

    /// <summary>Shears by <paramref name="magnitude"/> (fill 0).</summary>
    IInstanceMasks Shear(int outHeight, int outWidth, double magnitude, AxisDirection direction);

    /// <summary>The masks as bitmaps (<c>to_ndarray</c>; polygons rasterised as pycocotools).</summary>
    BitmapMasks ToBitmap();
}
