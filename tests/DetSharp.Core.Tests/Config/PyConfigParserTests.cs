using DetSharp.Config;

namespace DetSharp.Core.Tests.Config;

/// <summary>The Python subset that MMDetection configs use, evaluated as Python would.</summary>
public class PyConfigParserTests
{
    private static ConfigDict Eval(string text) => PyConfigParser.Evaluate(text, "test.py");

    [Fact]
    public void Every_top_level_variable_becomes_a_key_in_order()
    {
        var cfg = Eval("dataset_type = 'CocoApi'\ndata_root = 'data/coco/'\n__private = 1\nx = 2\n");

        Assert.Equal(["dataset_type", "data_root", "x"], cfg.Keys);
    }

    [Fact]
    public void Dict_calls_take_keywords_and_unpack_other_dicts()
    {
        var cfg = Eval("""
            img_norm_cfg = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)
            norm = dict(type='Normalize', **img_norm_cfg)
            """);

        var norm = (ConfigDict)cfg["norm"]!;
        Assert.Equal(["type", "mean", "std", "to_rgb"], norm.Keys);
        Assert.Equal(116.28, norm.Get<double[]>("mean")[1]);
        Assert.True(norm.Get<bool>("to_rgb"));
    }

    [Fact]
    public void Names_are_copied_by_value_so_later_changes_do_not_leak()
    {
        var cfg = Eval("a = dict(x=[1, 2])\nb = dict(inner=a)\n");

        Assert.NotSame(cfg["a"], ((ConfigDict)cfg["b"]!)["inner"]);
        Assert.True(ConfigValue.DeepEquals(cfg["a"], ((ConfigDict)cfg["b"]!)["inner"]));
    }

    [Fact]
    public void Tuples_and_lists_stay_distinct()
    {
        var cfg = Eval("a = (1333, 800)\nb = [1333, 800]\nc = (1,)\nd = ()\ne = 1, 2\nf = (5)\n");

        Assert.IsType<ConfigTuple>(cfg["a"]);
        Assert.IsType<ConfigList>(cfg["b"]);
        Assert.Single((ConfigTuple)cfg["c"]!);
        Assert.Empty((ConfigTuple)cfg["d"]!);
        Assert.IsType<ConfigTuple>(cfg["e"]);
        Assert.Equal(5L, cfg["f"]); // parentheses without a comma only group
    }

    [Fact]
    public void Numbers_follow_python_arithmetic()
    {
        var cfg = Eval("""
            beta = 1.0 / 9.0
            div = 7 / 2
            floordiv = -7 // 2
            mod = -7 % 3
            power = 2 ** 10
            lr = 0.02 * 2 / 16
            small = 1e-4
            big = 1_000
            hex = 0x1F
            neg = -(3 - 5)
            mixed = 2 * 0.5
            """);

        Assert.Equal(1.0 / 9.0, cfg["beta"]);
        Assert.Equal(3.5, cfg["div"]);
        Assert.Equal(-4L, cfg["floordiv"]);
        Assert.Equal(2L, cfg["mod"]);
        Assert.Equal(1024L, cfg["power"]);
        Assert.Equal(0.02 * 2 / 16, cfg["lr"]);
        Assert.Equal(0.0001, cfg["small"]);
        Assert.Equal(1000L, cfg["big"]);
        Assert.Equal(31L, cfg["hex"]);
        Assert.Equal(2L, cfg["neg"]);
        Assert.Equal(1.0, cfg["mixed"]);
    }

    [Fact]
    public void Strings_use_both_quotes_escapes_and_concatenate()
    {
        var cfg = Eval("""
            data_root = 'data/coco/'
            ann = data_root + "annotations/instances_train2017.json"
            implicit = ('a' 'b'
                        "c")
            escaped = 'it\'s\ttab'
            raw = r'C:\new'
            triple = '''x
            y'''
            repeated = 'ab' * 2
            """);

        Assert.Equal("data/coco/annotations/instances_train2017.json", cfg["ann"]);
        Assert.Equal("abc", cfg["implicit"]);
        Assert.Equal("it's\ttab", cfg["escaped"]);
        Assert.Equal(@"C:\new", cfg["raw"]);
        Assert.Equal("x\ny", cfg["triple"]);
        Assert.Equal("abab", cfg["repeated"]);
    }

    [Fact]
    public void Comments_continuations_and_brackets_span_lines()
    {
        var cfg = Eval("""
            # a comment
            x = 1 + \
                2  # trailing comment
            y = dict(  # comment inside brackets
                a=[1,
                   2,],   # trailing commas are fine
            )
            z = True; w = None
            """);

        Assert.Equal(3L, cfg["x"]);
        Assert.Equal([1L, 2L], (ConfigList)((ConfigDict)cfg["y"]!)["a"]!);
        Assert.Equal(true, cfg["z"]);
        Assert.Null(cfg["w"]);
    }

    [Fact]
    public void Brace_dicts_list_concatenation_and_star_unpacking()
    {
        var cfg = Eval("""
            base = dict(a=1)
            d = {'backbone': dict(lr_mult=0.1), **base, 'key.with.dots': 2}
            l = [1, 2] + [3]
            t = (1,) + (2, 3)
            s = [*l, 4]
            idx = l[-1]
            k = d['backbone']
            """);

        var d = (ConfigDict)cfg["d"]!;
        Assert.Equal(["backbone", "a", "key.with.dots"], d.Keys);
        Assert.Equal([1L, 2L, 3L], (ConfigList)cfg["l"]!);
        Assert.Equal([1L, 2L, 3L], (ConfigTuple)cfg["t"]!);
        Assert.Equal([1L, 2L, 3L, 4L], (ConfigList)cfg["s"]!);
        Assert.Equal(3L, cfg["idx"]);
        Assert.Equal(0.1, ((ConfigDict)cfg["k"]!)["lr_mult"]);
    }

    [Fact]
    public void Reassignment_replaces_and_augmented_assignment_works()
    {
        var cfg = Eval("x = 1\nx = 2\nx += 3\nl = [1]\nl += [2]\n");

        Assert.Equal(5L, cfg["x"]);
        Assert.Equal([1L, 2L], (ConfigList)cfg["l"]!);
    }

    [Fact]
    public void Module_docstring_is_allowed()
    {
        var cfg = Eval("\"\"\"My config.\"\"\"\nx = 1\n");

        Assert.Equal(["x"], cfg.Keys);
    }
    [Fact]
    public void List_comprehensions_evaluate_their_element_per_binding()
    {
        var cfg = Eval("""
            num_stages = 3
            min_values = (480, 512)
            heads = [dict(type='DIIHead', stage=i) for i in range(num_stages)]
            scales = [(1333, v) for v in min_values]
            strides = [550.0 / x for x in [69, 5]]
            pairs = [(i, c) for i, c in enumerate('ab', 1)]
            nested = [[j for j in range(i)] for i in range(1, 3)]
            stepped = [i for i in range(10, 0, -4)]
            """);

        Assert.Equal(3, ((ConfigList)cfg["heads"]!).Count);
        Assert.Equal(2L, cfg.Get<long>("heads.2.stage"));
        Assert.Equal("(1333, 480)", ConfigDumper.FormatInline(((ConfigList)cfg["scales"]!)[0]));
        Assert.Equal("[7.971014492753623, 110.0]", ConfigDumper.FormatInline(cfg["strides"]));
        Assert.Equal("[(1, 'a'), (2, 'b')]", ConfigDumper.FormatInline(cfg["pairs"]));
        Assert.Equal("[[0], [0, 1]]", ConfigDumper.FormatInline(cfg["nested"]));
        Assert.Equal("[10, 6, 2]", ConfigDumper.FormatInline(cfg["stepped"]));
        Assert.Equal(["num_stages", "min_values", "heads", "scales", "strides", "pairs", "nested", "stepped"], cfg.Keys);
    }

    [Fact]
    public void Dict_comprehensions_f_strings_and_update_build_keys_as_python()
    {
        var cfg = Eval("""
            depths = [2, 1]
            norm = dict(lr_mult=0.1)
            keys = {'backbone': dict(lr_mult=1.0)}
            keys.update({
                f'stages.{s}.blocks.{b}.norm': norm
                for s, n in enumerate(depths)
                for b in range(n)
            })
            keys.update({f'down.{s}': norm for s in range(len(depths) - 1)})
            text = f"{{x}} {depths[0]!r} {'a'!r} {1.0} {None} {True}" 'tail'
            """);

        var keys = (ConfigDict)cfg["keys"]!;
        Assert.Equal(["backbone", "stages.0.blocks.0.norm", "stages.0.blocks.1.norm", "stages.1.blocks.0.norm", "down.0"], keys.Keys);
        Assert.Equal(0.1, ((ConfigDict)keys["down.0"]!)["lr_mult"]);
        Assert.Equal("{x} 2 'a' 1.0 None Truetail", cfg["text"]);
    }

    [Fact]
    public void Dict_call_takes_a_leading_dict_as_mmcv_dumps_it()
    {
        var cfg = Eval("x = dict({'a.b': 1}, c=2)\n");

        Assert.Equal(["a.b", "c"], ((ConfigDict)cfg["x"]!).Keys);
    }
}
