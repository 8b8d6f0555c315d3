using DetSharp.Logging;

namespace DetSharp.Core.Tests.Logging;

/// <summary>Python's spellings as MMDetection's logs carry them (values checked against CPython 3).</summary>
public class PyFormatTests
{
    [Theory]
    [InlineData(0.00198, "0.00198")]
    [InlineData(1.10884, "1.10884")]
    [InlineData(88.07617, "88.07617")]
    [InlineData(2.0, "2.0")]
    [InlineData(1e-05, "1e-05")]
    [InlineData(0.0001, "0.0001")]
    [InlineData(1.5e-07, "1.5e-07")]
    [InlineData(1e16, "1e+16")]
    [InlineData(123456789012345.0, "123456789012345.0")]
    [InlineData(-0.5, "-0.5")]
    [InlineData(0.0, "0.0")]
    [InlineData(0.1 + 0.2, "0.30000000000000004")]
    public void Float_repr_matches_python(double value, string expected) => Assert.Equal(expected, PyFormat.Float(value));

    [Fact]
    public void Json_uses_pythons_separators_and_escapes()
    {
        var dict = new OrderedDictionary<string, object?>
        {
            ["mode"] = "train", ["epoch"] = 1, ["iter"] = 50, ["lr"] = 0.00198, ["memory"] = 3050L,
            ["loss"] = PyFormat.Round(1.108842, 5), ["ok"] = true, ["none"] = null, ["list"] = new List<object?> { 1, 2.5 }, ["text"] = "ü\"\n",
        };

        Assert.Equal("{\"mode\": \"train\", \"epoch\": 1, \"iter\": 50, \"lr\": 0.00198, \"memory\": 3050, \"loss\": 1.10884, \"ok\": true, \"none\": null, \"list\": [1, 2.5], \"text\": \"\\u00fc\\\"\\n\"}",
            PyFormat.Json(dict));
    }

    [Theory]
    [InlineData(3369, "0:56:09")]
    [InlineData(59, "0:00:59")]
    [InlineData(86400 + 3661, "1 day, 1:01:01")]
    [InlineData(2 * 86400, "2 days, 0:00:00")]
    public void Timedelta_matches_python(long seconds, string expected) => Assert.Equal(expected, PyFormat.TimeDelta(seconds));

    [Fact]
    public void Fixed_and_scientific_formats()
    {
        Assert.Equal("1.978e-03", PyFormat.Sci(0.00197804, 3));
        Assert.Equal("2.000e-02", PyFormat.Sci(0.02, 3));
        Assert.Equal("0.0593", PyFormat.Fixed(0.05934, 4));
        Assert.Equal("nan", PyFormat.Fixed(double.NaN, 4));
    }
}
