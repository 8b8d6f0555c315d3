using OpenCvSharp;

namespace DetSharp.Visualization;

/// <summary>
/// Per-class colours for drawings (MMDetection's <c>--palette</c>): <c>coco</c> (DetSharp's fixed, well-separated
/// palette for any number of classes), <c>citys</c> (the Cityscapes label colours for its 8 instance classes) and
/// <c>random</c> (seeded, so the same classes get the same colours on every run).
/// </summary>
public sealed class Palette
{
    private readonly Func<int, Scalar> _color;

    private Palette(string name, Func<int, Scalar> color)
    {
        Name = name;
        _color = color;
    }

    public string Name { get; }

    /// <summary>The BGR colour of class <paramref name="label"/>.</summary>
    public Scalar this[int label] => _color(Math.Max(0, label));

    public static IReadOnlyList<string> Names { get; } = ["coco", "citys", "random"];

    public static Palette Get(string name) => name switch
    {
        "coco" => Spread,
        "citys" => Cityscapes,
        "random" => Random,
        _ => throw new DetSharpException($"unknown palette '{name}'; use one of: {string.Join(", ", Names)}."),
    };

    /// <summary>Hues stepped by the golden ratio: neighbouring labels never get similar colours.</summary>
    public static Palette Spread { get; } = new("coco", label => FromHsv((label * 0.6180339887498949 + 0.05) % 1.0, 0.85, 0.95));

    // Cityscapes' published label colours (RGB) for person, rider, car, truck, bus, train, motorcycle, bicycle.
    private static readonly (int R, int G, int B)[] CityscapesRgb =
        [(220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100), (0, 0, 230), (119, 11, 32)];

    public static Palette Cityscapes { get; } = new("citys", label =>
        label < CityscapesRgb.Length ? new Scalar(CityscapesRgb[label].B, CityscapesRgb[label].G, CityscapesRgb[label].R) : Spread[label]);

    public static Palette Random { get; } = new("random", label =>
    {
        var rng = new System.Random(42 + label * 7919);
        return FromHsv(rng.NextDouble(), 0.6 + 0.4 * rng.NextDouble(), 0.75 + 0.25 * rng.NextDouble());
    });

    private static Scalar FromHsv(double h, double s, double v)
    {
        double c = v * s, x = c * (1 - Math.Abs(h * 6 % 2 - 1)), m = v - c;
        (double r, double g, double b) = (int)(h * 6) switch
        {
            0 => (c, x, 0.0),
            1 => (x, c, 0.0),
            2 => (0.0, c, x),
            3 => (0.0, x, c),
            4 => (x, 0.0, c),
            _ => (c, 0.0, x),
        };
        return new Scalar(Math.Round((b + m) * 255), Math.Round((g + m) * 255), Math.Round((r + m) * 255));
    }
}
