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

    /// <summary>Pixel counts of each mask (MMDetection's <c>areas</c>).</summary>
    double[] Areas();
}
