using DetSharp.Config;
using DetSharp.Core.Tests.TestSupport;

namespace DetSharp.Core.Tests.Config;

/// <summary>
/// Issue 27, items 5 and 6: a config nested 10,000 deep or one that builds gigabytes (repetition, doubling,
/// a YAML alias bomb) stops with a message naming the file and line, instead of a stack overflow or the kernel's OOM killer.
/// </summary>
public class ConfigLimitsTests
{
    private static DetSharpException FailsPy(string text) =>
        Assert.Throws<DetSharpException>(() => PyConfigParser.Evaluate(text, "configs/hostile.py"));

    [Fact]
    public void A_list_nested_10000_deep_is_refused_with_file_and_line()
    {
        var e = FailsPy("a = 1\nx = " + new string('[', 10_000) + new string(']', 10_000) + "\n");

        Assert.StartsWith("configs/hostile.py:2:", e.Message);
        Assert.Contains($"nests deeper than {ConfigBudget.MaxDepth} levels", e.Message);
    }

    [Fact]
    public void Dicts_parentheses_and_unary_operators_nested_10000_deep_are_refused()
    {
        string dicts = "x = " + string.Concat(Enumerable.Repeat("dict(a=", 10_000)) + "1" + new string(')', 10_000) + "\n";
        Assert.Contains("nests deeper than", FailsPy(dicts).Message);
        Assert.Contains("nests deeper than", FailsPy("x = " + new string('(', 10_000) + "1" + new string(')', 10_000) + "\n").Message);
        Assert.Contains("nests deeper than", FailsPy("x = " + new string('-', 10_000) + "1\n").Message);
        Assert.Contains("nests deeper than", FailsPy("x = 2" + string.Concat(Enumerable.Repeat(" ** 1", 10_000)) + "\n").Message);
    }

    [Fact]
    public void Nesting_built_through_names_is_refused_at_the_assignment_that_goes_too_deep()
    {
        var lines = new List<string> { "x0 = 1" };
        for (int i = 1; i <= 150; i++) lines.Add($"x{i} = [x{i - 1}]");

        var e = FailsPy(string.Join("\n", lines) + "\n");

        Assert.StartsWith($"configs/hostile.py:{ConfigBudget.MaxDepth + 2}:1:", e.Message);
    }

    [Fact]
    public void The_shipped_nesting_is_far_from_the_limit()
    {
        var cfg = PyConfigParser.Evaluate("x = " + new string('[', 50) + "1" + new string(']', 50) + "\n", "ok.py");

        Assert.Equal(50, ConfigBudget.DepthOf(cfg["x"]));
    }

    [Theory]
    [InlineData("x = [1] * 10000000000\n", "configs/hostile.py:1:9:")]
    [InlineData("x = 10000000000 * [1, 2]\n", "configs/hostile.py:1:17:")]
    [InlineData("x = (0,) * 10000000000\n", "configs/hostile.py:1:10:")]
    [InlineData("x = 'ab' * 10000000000\n", "configs/hostile.py:1:10:")]
    public void Repetition_beyond_the_budget_is_refused_before_allocating(string text, string where)
    {
        var e = FailsPy(text);

        Assert.StartsWith(where, e.Message);
        Assert.Contains($"more than {ConfigBudget.MaxSize:N0} values", e.Message);
    }

    [Fact]
    public void Doubling_by_concatenation_and_by_name_references_is_refused()
    {
        var strings = new List<string> { "s = 'abcdefgh'" };
        for (int i = 0; i < 40; i++) strings.Add("s = s + s");
        Assert.Contains("more than", FailsPy(string.Join("\n", strings) + "\n").Message);

        var lists = new List<string> { "x0 = [1, 2, 3, 4]" };
        for (int i = 1; i <= 40; i++) lists.Add($"x{i} = [x{i - 1}, x{i - 1}]");
        // x{i} nests i + 1 deep (< 100) and doubles in size: the budget, not the depth, stops it.
        var e = FailsPy(string.Join("\n", lists) + "\n");
        Assert.Contains("more than", e.Message);
        Assert.Matches(@"^configs/hostile\.py:2\d:", e.Message);

        var dicts = new List<string> { "d0 = dict(a=1, b=2)" };
        for (int i = 1; i <= 40; i++) dicts.Add($"d{i} = dict(x=d{i - 1}, y=d{i - 1}, z=dict(**d{i - 1}))");
        Assert.Contains("more than", FailsPy(string.Join("\n", dicts) + "\n").Message);
    }

    [Fact]
    public void Ordinary_repetition_and_concatenation_still_work()
    {
        var cfg = PyConfigParser.Evaluate("a = [0.5] * 3\nb = 'ab' * 2\nc = [1] + [2]\nd = (1,) * 0\ne = [] * 10000000000\n", "ok.py");

        Assert.Equal(new ConfigList { 0.5, 0.5, 0.5 }, cfg["a"]);
        Assert.Equal("abab", cfg["b"]);
        Assert.Equal(new ConfigList { 1L, 2L }, cfg["c"]);
        Assert.Empty((ConfigTuple)cfg["d"]!);
        Assert.Empty((ConfigList)cfg["e"]!);
    }

    [Fact]
    public void A_yaml_config_nested_10000_deep_is_refused_with_file_and_line()
    {
        using var dir = new TempDir();
        string flow = "x: " + new string('[', 10_000) + new string(']', 10_000) + "\n";

        foreach (var (name, text) in new[] { ("deep_flow.yaml", flow), ("deep_dicts.yaml", "x:\n  " + string.Concat(Enumerable.Repeat("- ", 10_000)) + "1\n") })
        {
            string path = dir.Write(name, text);
            var e = Assert.Throws<DetSharpException>(() => DetSharp.Config.Config.FromFile(path));
            Assert.StartsWith($"{path}:", e.Message);
            Assert.Contains("nests deeper than", e.Message);
        }
    }

    [Fact]
    public void A_yaml_alias_bomb_is_refused_with_file_and_line()
    {
        using var dir = new TempDir();
        var lines = new List<string> { "a0: &a0 [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]" };
        for (int i = 1; i < 10; i++)
            lines.Add($"a{i}: &a{i} [{string.Join(", ", Enumerable.Repeat($"*a{i - 1}", 9))}]");
        string path = dir.Write("bomb.yaml", string.Join("\n", lines) + "\n");

        var e = Assert.Throws<DetSharpException>(() => DetSharp.Config.Config.FromFile(path));

        Assert.Matches(@"bomb\.yaml:[5-9]:\d+: this config would build more than", e.Message);
    }

    [Fact]
    public void Yaml_aliases_of_ordinary_size_still_expand()
    {
        using var dir = new TempDir();
        string path = dir.Write("ok.yaml", "norm: &norm {mean: [1, 2, 3], std: [1, 1, 1]}\ntrain: {norm: *norm}\ntest: {norm: *norm}\n");

        var cfg = DetSharp.Config.Config.FromFile(path);

        Assert.Equal(3L, cfg.Get<long>("test.norm.mean.2"));
    }

    [Fact]
    public void A_json_config_nested_deeply_is_refused_with_file_and_line()
    {
        using var dir = new TempDir();
        string path = dir.Write("deep.json", "{\"x\": " + new string('[', 10_000) + new string(']', 10_000) + "}\n");

        var e = Assert.Throws<DetSharpException>(() => DetSharp.Config.Config.FromFile(path));

        Assert.StartsWith($"{path}:1:", e.Message);
        Assert.Contains("depth", e.Message);
    }
}
