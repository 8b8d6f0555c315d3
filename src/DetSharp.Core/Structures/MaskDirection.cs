namespace DetSharp.Structures;

/// <summary>MMDetection's flip directions (<c>'horizontal'</c>, <c>'vertical'</c>, <c>'diagonal'</c>).</summary>
public enum FlipDirection
{
    Horizontal,
    Vertical,
    Diagonal,
}

/// <summary>Translate / shear directions.</summary>
public enum AxisDirection
{
    Horizontal,
    Vertical,
}

/// <summary>Parsing of MMDetection's direction strings.</summary>
public static class Directions
{
    public static FlipDirection ParseFlip(string text) => text switch
    {
        "horizontal" => FlipDirection.Horizontal,
        "vertical" => FlipDirection.Vertical,
        "diagonal" => FlipDirection.Diagonal,
        _ => throw new DetSharpException($"flip direction '{text}' is not one of 'horizontal', 'vertical', 'diagonal'."),
    };

    public static AxisDirection ParseAxis(string text) => text switch
    {
        "horizontal" => AxisDirection.Horizontal,
        "vertical" => AxisDirection.Vertical,
        _ => throw new DetSharpException($"direction '{text}' is not one of 'horizontal', 'vertical'."),
    };

    public static string Name(FlipDirection d) => d switch
    {
        FlipDirection.Horizontal => "horizontal",
        FlipDirection.Vertical => "vertical",
        _ => "diagonal",
    };
}
