using DetSharp.Config;

namespace DetSharp.Core.Tests.Config;

/// <summary>Dumped scalars read exactly as Python's repr writes them.</summary>
public class PyTextTests
{
    [Theory]
    [InlineData(0.1, "0.1")]
    [InlineData(1.0, "1.0")]
    [InlineData(0.0001, "0.0001")]
    [InlineData(1e-5, "1e-05")]
    [InlineData(1.0 / 9.0, "0.1111111111111111")]
    [InlineData(123.675, "123.675")]
    [InlineData(1e16, "1e+16")]
    [InlineData(1e15, "1000000000000000.0")]
    [InlineData(12345678901234567.0, "1.2345678901234568e+16")]
    [InlineData(-2.5, "-2.5")]
    [InlineData(0.0, "0.0")]
    [InlineData(2.5e-7, "2.5e-07")]
    [InlineData(double.PositiveInfinity, "inf")]
    public void Floats_match_python_repr(double value, string expected) => Assert.Equal(expected, PyText.Float(value));

    [Theory]
    [InlineData("abc", "'abc'")]
    [InlineData("it's", "\"it's\"")]
    [InlineData("a\\b", "'a\\\\b'")]
    [InlineData("tab\there", "'tab\\there'")]
    public void Strings_match_python_repr(string value, string expected) => Assert.Equal(expected, PyText.String(value));

    [Fact]
    public void Dump_writes_tuples_dicts_with_non_identifier_keys_and_reads_back()
    {
        var cfg = PyConfigParser.Evaluate("a = (1,)\nb = {'x.y': 1, 'class': 2}\nc = dict(k=[1.0, None, True, 'q'])\n", "t.py");

        string text = ConfigDumper.ToPython(cfg);

        Assert.Equal("a = (1,)\nb = {'x.y': 1, 'class': 2}\nc = dict(k=[1.0, None, True, 'q'])\n", text);
        Assert.True(ConfigValue.DeepEquals(cfg, PyConfigParser.Evaluate(text, "t.py")));
    }
}
