namespace DetSharp.Tests.TestSupport;

/// <summary>Relative comparisons for values checked against MMDetection's.</summary>
internal static class Relative
{
    /// <summary>Asserts |actual − expected| ≤ tol·max(|expected|, 1e-8), naming <paramref name="what"/> on failure.</summary>
    public static void Equal(double expected, double actual, double tol, string what)
    {
        double err = Math.Abs(actual - expected) / Math.Max(Math.Abs(expected), 1e-8);
        Assert.True(err <= tol, $"{what}: expected {expected:R}, got {actual:R} (relative error {err:E2} > {tol:E0})");
    }

    /// <summary>Element-wise <see cref="Equal(double, double, double, string)"/> with the same length.</summary>
    public static void Equal(IReadOnlyList<float> expected, IReadOnlyList<float> actual, double tol, string what)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++) Equal(expected[i], actual[i], tol, $"{what}[{i}]");
    }
}
