namespace DetSharp.Structures;

/// <summary>A COCO box: top-left corner and size, <c>[x, y, w, h]</c>.</summary>
public readonly record struct BoxXywh(double X, double Y, double W, double H)
{
    public double Area => W * H;

    public static BoxXywh FromSpan(ReadOnlySpan<double> xywh) => new(xywh[0], xywh[1], xywh[2], xywh[3]);
}
