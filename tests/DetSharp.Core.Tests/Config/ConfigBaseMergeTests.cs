using DetSharp.Config;
using DetSharp.Core.Tests.TestSupport;

namespace DetSharp.Core.Tests.Config;

/// <summary>mmcv's <c>_base_</c> inheritance: recursive, relative to the declaring file, dicts merged, the rest replaced.</summary>
public class ConfigBaseMergeTests
{
    [Fact]
    public void Child_dicts_merge_recursively_and_everything_else_replaces()
    {
        using var dir = new TempDir();
        dir.Write("_base_/model.py", "model = dict(type='MaskRCNN', backbone=dict(depth=50, out_indices=(0, 1, 2, 3)), heads=[dict(n=80), dict(n=80)])\nlr = 0.02\n");
        string child = dir.Write("exp/child.py", "_base_ = '../_base_/model.py'\nmodel = dict(backbone=dict(depth=18), heads=[dict(n=1)])\nlr = None\n");

        var cfg = DetSharp.Config.Config.FromFile(child);

        Assert.Equal("MaskRCNN", cfg.Get<string>("model.type"));
        Assert.Equal(18, cfg.Get<int>("model.backbone.depth"));
        Assert.IsType<ConfigTuple>(cfg.Dict.Get<object>("model.backbone.out_indices"));
        Assert.Single(cfg.Get<ConfigList>("model.heads")); // lists are never merged element-wise
        Assert.Null(cfg.Dict["lr"]);
        Assert.False(cfg.Dict.ContainsKey("_base_"));
    }

    [Fact]
    public void Delete_flag_replaces_the_base_dict_and_is_stripped()
    {
        using var dir = new TempDir();
        dir.Write("base.py", "runner = dict(type='EpochBasedRunner', max_epochs=12)\n");
        string child = dir.Write("child.py", "_base_ = './base.py'\nrunner = dict(_delete_=True, type='IterBasedRunner', max_iters=20)\n");

        var cfg = DetSharp.Config.Config.FromFile(child);

        Assert.Equal(["type", "max_iters"], cfg.Get<ConfigDict>("runner").Keys);
    }

    [Fact]
    public void Delete_flag_on_a_new_key_is_kept_as_mmcv_does()
    {
        using var dir = new TempDir();
        dir.Write("base.py", "a = 1\n");
        string child = dir.Write("child.py", "_base_ = 'base.py'\nnew = dict(_delete_=True, x=1)\n");

        var cfg = DetSharp.Config.Config.FromFile(child);

        Assert.True(cfg.Get<bool>("new._delete_"));
    }

    [Fact]
    public void Dict_over_non_dict_suggests_delete()
    {
        using var dir = new TempDir();
        dir.Write("base.py", "img_scale = [(1333, 800)]\n");
        string child = dir.Write("child.py", "_base_ = 'base.py'\nimg_scale = dict(w=1)\n");

        var e = Assert.Throws<DetSharpException>(() => DetSharp.Config.Config.FromFile(child));

        Assert.Contains("child.py: 'img_scale' is a dict in the child config but a list in its base", e.Message);
        Assert.Contains("_delete_=True", e.Message);
    }

    [Fact]
    public void Sibling_bases_may_not_share_a_top_level_key()
    {
        using var dir = new TempDir();
        dir.Write("a.py", "optimizer = dict(lr=0.01)\n");
        dir.Write("b.py", "optimizer = dict(lr=0.02)\n");
        string child = dir.Write("child.py", "_base_ = ['a.py', 'b.py']\n");

        var e = Assert.Throws<DetSharpException>(() => DetSharp.Config.Config.FromFile(child));

        Assert.Contains("duplicate key 'optimizer' among its _base_ files", e.Message);
        Assert.Contains("a.py", e.Message);
        Assert.Contains("b.py", e.Message);
    }

    [Fact]
    public void Bases_chain_recursively_and_later_siblings_fill_other_keys()
    {
        using var dir = new TempDir();
        dir.Write("root.py", "x = 1\n");
        dir.Write("mid/mid.py", "_base_ = '../root.py'\ny = 2\n");
        dir.Write("other.py", "z = 3\n");
        string child = dir.Write("top/child.py", "_base_ = ['../mid/mid.py', '../other.py']\nx = 10\n");

        var cfg = DetSharp.Config.Config.FromFile(child);

        Assert.Equal(["x", "y", "z"], cfg.Dict.Keys.Order());
        Assert.Equal(10, cfg.Get<int>("x"));
        Assert.Contains("root.py", cfg.Text);
        Assert.True(cfg.Text.IndexOf("root.py", StringComparison.Ordinal) < cfg.Text.IndexOf("child.py", StringComparison.Ordinal));
    }

    [Fact]
    public void Missing_base_names_the_declaring_file()
    {
        using var dir = new TempDir();
        string child = dir.Write("balloon/child.py", "_base_ = 'mask_rcnn/mask_rcnn_r50_fpn_1x_coco.py'\n");

        var e = Assert.Throws<DetSharpException>(() => DetSharp.Config.Config.FromFile(child));

        Assert.Contains("base config not found", e.Message);
        Assert.Contains("balloon/mask_rcnn/mask_rcnn_r50_fpn_1x_coco.py", e.Message);
        Assert.Contains("listed in _base_ of " + child, e.Message);
    }

    [Fact]
    public void Base_as_tuple_is_rejected_as_mmcv_does()
    {
        using var dir = new TempDir();
        dir.Write("a.py", "x = 1\n");
        string child = dir.Write("child.py", "_base_ = ('a.py',)\n");

        var e = Assert.Throws<DetSharpException>(() => DetSharp.Config.Config.FromFile(child));

        Assert.Contains("_base_ must be a string or a list of strings", e.Message);
    }

    [Fact]
    public void Base_cycle_is_reported()
    {
        using var dir = new TempDir();
        dir.Write("a.py", "_base_ = 'b.py'\n");
        string b = dir.Write("b.py", "_base_ = 'a.py'\n");

        var e = Assert.Throws<DetSharpException>(() => DetSharp.Config.Config.FromFile(b));

        Assert.Contains("_base_ cycle", e.Message);
    }

    [Fact]
    public void Base_variables_are_substituted_as_whole_values_with_their_types()
    {
        using var dir = new TempDir();
        dir.Write("base.py", "train_pipeline = [dict(type='LoadImageFromFile')]\nmodel = dict(neck=dict(out_channels=256))\n");
        string child = dir.Write("child.py",
            "_base_ = 'base.py'\ndata = dict(train=dict(pipeline={{_base_.train_pipeline}}), width={{ _base_.model.neck.out_channels }})\n");

        var cfg = DetSharp.Config.Config.FromFile(child);

        Assert.Equal("LoadImageFromFile", cfg.Get<string>("data.train.pipeline.0.type"));
        Assert.Equal(256L, cfg.Dict.Get<object>("data.width"));
    }

    [Fact]
    public void Unknown_base_variable_is_reported()
    {
        using var dir = new TempDir();
        dir.Write("base.py", "x = 1\n");
        string child = dir.Write("child.py", "_base_ = 'base.py'\ny = {{_base_.nope}}\n");

        var e = Assert.Throws<DetSharpException>(() => DetSharp.Config.Config.FromFile(child));

        Assert.Contains("{{_base_.nope}} refers to 'nope'", e.Message);
    }

    [Fact]
    public void Predefined_file_variables_are_substituted()
    {
        using var dir = new TempDir();
        string file = dir.Write("sub/my_exp.py",
            "work_dir = './work_dirs/{{ fileBasenameNoExtension }}'\nd = '{{fileDirname}}'\nb = '{{ fileBasename }}'\ne = '{{fileExtname}}'\n");

        var cfg = DetSharp.Config.Config.FromFile(file);

        Assert.Equal("./work_dirs/my_exp", cfg.Get<string>("work_dir"));
        Assert.Equal(Path.Combine(dir.Path, "sub"), cfg.Get<string>("d"));
        Assert.Equal("my_exp.py", cfg.Get<string>("b"));
        Assert.Equal(".py", cfg.Get<string>("e"));
    }

    [Fact]
    public void Json_and_yaml_configs_inherit_and_delete_the_same_way()
    {
        using var dir = new TempDir();
        dir.Write("base.py", "model = dict(type='MaskRCNN', backbone=dict(depth=50, style='pytorch'))\nopt = dict(lr=0.02, momentum=0.9)\n");
        string json = dir.Write("child.json", """{"_base_": "base.py", "model": {"backbone": {"depth": 18}}, "opt": {"_delete_": true, "lr": 1e-3}}""");
        string yaml = dir.Write("child.yaml", "_base_: [base.py]\nmodel:\n  backbone:\n    depth: 101\nopt:\n  _delete_: true\n  lr: 1e-4\n  nesterov: yes_please\n  steps: [8, 11]\n");

        var fromJson = DetSharp.Config.Config.FromFile(json);
        var fromYaml = DetSharp.Config.Config.FromFile(yaml);

        Assert.Equal(18, fromJson.Get<int>("model.backbone.depth"));
        Assert.Equal("pytorch", fromJson.Get<string>("model.backbone.style"));
        Assert.Equal(["lr"], fromJson.Get<ConfigDict>("opt").Keys);
        Assert.Equal(0.001, fromJson.Dict.Get<object>("opt.lr"));
        Assert.Equal(101L, fromYaml.Dict.Get<object>("model.backbone.depth"));
        Assert.Equal(0.0001, fromYaml.Dict.Get<object>("opt.lr"));
        Assert.Equal("yes_please", fromYaml.Get<string>("opt.nesterov"));
        Assert.IsType<ConfigList>(fromYaml.Dict.Get<object>("opt.steps"));
    }

    [Fact]
    public void Unsupported_extension_is_reported()
    {
        using var dir = new TempDir();
        string file = dir.Write("cfg.toml", "x = 1\n");

        var e = Assert.Throws<DetSharpException>(() => DetSharp.Config.Config.FromFile(file));

        Assert.Contains("unsupported config extension '.toml'", e.Message);
    }

    [Fact]
    public void Invalid_json_names_file_and_position()
    {
        using var dir = new TempDir();
        string file = dir.Write("cfg.json", "{\n  \"a\": 1,\n  \"b\": }\n");

        var e = Assert.Throws<DetSharpException>(() => DetSharp.Config.Config.FromFile(file));

        Assert.StartsWith($"{file}:3:", e.Message);
    }
}
