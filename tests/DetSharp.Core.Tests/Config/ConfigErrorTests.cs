using DetSharp.Config;

namespace DetSharp.Core.Tests.Config;

/// <summary>Every config error names the file, line and column (or key) and says what to do.</summary>
public class ConfigErrorTests
{
    private static DetSharpException Fails(string text) =>
        Assert.Throws<DetSharpException>(() => PyConfigParser.Evaluate(text, "configs/my_config.py"));

    [Fact]
    public void Syntax_error_names_file_line_column_and_shows_the_line()
    {
        var e = Fails("model = dict(\n    type='MaskRCNN',\n    backbone=dict(depth=50 num_stages=4))\n");

        Assert.StartsWith("configs/my_config.py:3:28: invalid syntax: expected ',' or ')'", e.Message);
        Assert.Contains("backbone=dict(depth=50 num_stages=4))", e.Message);
        Assert.Contains("^", e.Message);
    }

    [Fact]
    public void Unclosed_bracket_points_at_where_it_opened()
    {
        var e = Fails("a = 1\nmodel = dict(\n    type='MaskRCNN',\n");

        Assert.StartsWith("configs/my_config.py:2:13: this bracket is never closed (expected ')')", e.Message);
    }

    [Fact]
    public void Unclosed_string_is_reported()
    {
        var e = Fails("x = 'abc\n");

        Assert.StartsWith("configs/my_config.py:1:5: this string is never closed", e.Message);
    }

    [Fact]
    public void Name_used_before_definition_is_reported_with_a_hint()
    {
        var e = Fails("data = dict(train=dict(pipeline=train_pipeline))\ntrain_pipeline = []\n");

        Assert.StartsWith("configs/my_config.py:1:33: name 'train_pipeline' is not defined", e.Message);
        Assert.Contains("{{_base_.train_pipeline}}", e.Message);
    }

    [Fact]
    public void Misspelt_name_suggests_the_defined_one()
    {
        var e = Fails("img_norm_cfg = dict(mean=[0])\nx = dict(**img_norm_cgf)\n");

        Assert.Contains("Did you mean 'img_norm_cfg'?", e.Message);
    }

    [Theory]
    [InlineData("import os\n", "1:1: imports are not supported")]
    [InlineData("from mmdet import x\n", "1:1: imports are not supported")]
    [InlineData("x = list([1, 2])\n", "1:5: calling 'list(...)' is not supported in configs: only dict(...) is")]
    [InlineData("x = [i for i in range(10**9)]\n", "1:17: range() of 1,000,000,000 values is too large for a config (at most 100,000)")]
    [InlineData("x = [1 for a in range(1000) for b in range(1000)]\n", "1:29: the comprehensions of this config loop more than 100,000 times")]
    [InlineData("x = [i for i in [1, 2] if i]\n", "1:24: conditions ('if') in comprehensions are not supported")]
    [InlineData("x = (i for i in [1])\n", "1:8: generator expressions '(... for ...)' are not supported")]
    [InlineData("x = range(3)\n", "1:5: range(...) is only supported as the iterable of a comprehension")]
    [InlineData("x = [a for a, b in [1, 2]]\n", "1:8: cannot unpack the int 1 into the 2 names a, b")]
    [InlineData("x = [i for i in 3]\n", "1:8: a comprehension cannot loop over the int 3")]
    [InlineData("x = [i for i in [1]]\ny = i\n", "2:5: name 'i' is not defined")]
    [InlineData("x = [[1] * 10**6 for i in range(20)]\n", "this config would build more than 10,000,000 values")]
    [InlineData("x = f'{1:>3}'\n", "1:5: f-string: format specifications ('{value:...}') are not supported")]
    [InlineData("x = f'{[1]}'\n", "1:8: f-string: formatting a list is not supported in configs")]
    [InlineData("x = f'{y}'\n", "1:8: name 'y' is not defined")]
    [InlineData("x = f'a}'\n", "1:5: f-string: single '}' is not allowed")]
    [InlineData("x = [1]\nx.update(dict(a=1))\n", "2:1: 'x.update(...)' needs a dict, but 'x' is a list")]
    [InlineData("def f():\n    return 1\n", "1:1: 'def' is not supported in configs")]
    [InlineData("if True:\n    x = 1\n", "1:1: the 'if' statement is not supported")]
    [InlineData("x = lambda: 1\n", "1:5: lambda is not supported")]
    [InlineData("a = dict(b=1)\na.b = 2\n", "2:2: attribute access ('.') is not supported")]
    [InlineData("x = 1 if True else 2\n", "1:7: 'if' expressions are not supported")]
    [InlineData("x = 1 == 1\n", "1:7: the operator '==' is not supported")]
    [InlineData("x = {1, 2}\n", "1:6: set literals are not supported")]
    [InlineData("x = dict(a=1, a=2)\n", "1:15: dict() got multiple values for keyword argument 'a'")]
    [InlineData("x = 'a' + 1\n", "1:9: unsupported operand types for +: 'str' and 'int'")]
    [InlineData("x = 1 / 0\n", "1:7: division by zero")]
    [InlineData("  x = 1\n", "1:1: unexpected indent")]
    [InlineData("x = 1 $ 2\n", "1:7: unexpected character '$'")]
    [InlineData("print('hi')\n", "1:1: calling 'print(...)' is not supported")]
    public void Unsupported_syntax_is_named_with_its_position(string text, string expected)
    {
        var e = Fails(text);

        Assert.StartsWith("configs/my_config.py:", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Missing_key_names_the_full_path_the_file_and_the_available_keys()
    {
        var cfg = PyConfigParser.Evaluate("model = dict(roi_head=dict(bbox_head=dict(num_classes=80)))\n", "c.py");
        DetSharp.Config.Config.Annotate(cfg, "", "configs/c.py");

        var e = Assert.Throws<DetSharpException>(() => cfg.Get<int>("model.roi_head.bbox_head.num_clases"));

        Assert.Equal(
            "config key 'model.roi_head.bbox_head.num_clases' not found in configs/c.py; 'model.roi_head.bbox_head' has: num_classes. Did you mean 'num_classes'?",
            e.Message);
    }

    [Fact]
    public void Wrong_value_type_names_the_key()
    {
        var cfg = PyConfigParser.Evaluate("optimizer = dict(lr='fast')\n", "c.py");

        var e = Assert.Throws<DetSharpException>(() => cfg.Get<double>("optimizer.lr"));

        Assert.Equal("config key 'optimizer.lr' is the string 'fast', but a number is expected.", e.Message);
    }

    [Fact]
    public void List_index_out_of_range_is_reported_on_lookup()
    {
        var cfg = PyConfigParser.Evaluate("p = [dict(type='A')]\n", "c.py");

        var e = Assert.Throws<DetSharpException>(() => cfg.Get<string>("p.3.type"));

        Assert.Contains("'p' has 1 elements, index 3 is out of range", e.Message);
    }
}
