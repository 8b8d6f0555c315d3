using Xunit.Sdk;

namespace DetSharp.Core.Tests.Parity;

/// <summary>A parity check passes only when it compared something and everything it compared is within tolerance.</summary>
public class ParityChecksTests
{
    [Fact]
    public void Values_within_tolerance_pass_and_outside_fail_naming_the_worst()
    {
        var checks = new ParityChecks("ops", "f");
        checks.Values("close", [1.0, 2.0], [1.0, 2.0 + 5e-7], Tolerance.Absolute(1e-6));
        checks.Values("far", [1.0, 2.0], [1.1, 2.0], Tolerance.Absolute(1e-6));

        Assert.True(checks.Rows[0].Pass);
        Assert.False(checks.Rows[1].Pass);
        Assert.Contains("[0]: expected 1, got 1.1", checks.Rows[1].Worst);
    }

    [Fact]
    public void Comparing_no_value_fails()
    {
        var checks = new ParityChecks("parity", "f");
        checks.Values("empty", Array.Empty<double>(), Array.Empty<double>(), Tolerance.Absolute(1));
        checks.Same("keys", Array.Empty<string>(), Array.Empty<string>());
        checks.NothingCompared();

        Assert.All(checks.Rows, r => Assert.False(r.Pass));
        Assert.Equal("no values compared", checks.Rows[0].Worst);
        Assert.Equal("nothing compared (both sides empty)", checks.Rows[1].Worst);
    }

    [Fact]
    public void A_fixture_with_no_rows_fails_the_assertion()
    {
        var e = Assert.Throws<TrueException>(() => ParityAssert.AllPass([]));
        Assert.Contains("no parity comparisons were made", e.Message);
    }

    [Fact]
    public void A_length_difference_fails_even_when_the_common_prefix_is_equal()
    {
        var checks = new ParityChecks("ops", "f");
        checks.Values("prefix", [1.0, 2.0], [1.0], Tolerance.Absolute(1));

        Assert.False(checks.Rows[0].Pass);
        Assert.StartsWith("1 values, expected 2", checks.Rows[0].Worst);
    }
}
