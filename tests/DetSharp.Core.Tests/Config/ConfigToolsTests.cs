using DetSharp.Config;
using DetSharp.Core.Tests.TestSupport;

namespace DetSharp.Core.Tests.Config;

/// <summary>MMDetection's replace_cfg_vals and update_data_root, applied by the tools before --cfg-options.</summary>
public class ConfigToolsTests
{
    [Fact]
    public void Whole_string_interpolation_takes_the_value_and_its_type_partial_ones_its_text()
    {
        using var dir = new TempDir();
        string file = dir.Write("c.py", """
            scales = [(1333, 800)]
            lr = 0.02
            flag = True
            a = dict(img_scale='${scales}', note='lr=${lr}, flag=${flag}')
            """);

        var cfg = ConfigTools.Load(file);

        Assert.IsType<ConfigTuple>(cfg.Get<ConfigList>("a.img_scale")[0]);
        Assert.Equal("lr=0.02, flag=True", cfg.Get<string>("a.note"));
    }

    [Fact]
    public void Interpolating_a_list_inside_a_longer_string_is_an_error()
    {
        using var dir = new TempDir();
        string file = dir.Write("c.py", "x = [1]\ny = 'a${x}'\n");

        var e = Assert.Throws<DetSharpException>(() => ConfigTools.Load(file));

        Assert.Contains("only a whole string may refer to a dict, list or tuple", e.Message);
    }

    [Fact]
    public void Datasets_root_rewrites_paths_under_data_then_options_apply()
    {
        using var dir = new TempDir();
        string file = dir.Write("c.py", """
            data_root = 'data/coco/'
            data = dict(train=dict(ann_file=data_root + 'a.json', img_prefix=data_root + 'train2017/'), other=[data_root])
            """);

        var cfg = ConfigTools.Load(file, ["data.train.img_prefix=/x/"], datasetsRoot: "/datasets/coco/");

        Assert.Equal("/datasets/coco/", cfg.Get<string>("data_root"));
        Assert.Equal("/datasets/coco/a.json", cfg.Get<string>("data.train.ann_file"));
        Assert.Equal("/x/", cfg.Get<string>("data.train.img_prefix"));
        Assert.Equal("data/coco/", cfg.Get<string>("data.other.0")); // lists are not rewritten, as in MMDetection
    }
}
