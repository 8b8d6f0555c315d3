using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using DetSharp.Cli.Demo;
using DetSharp.Config;
using DetSharp.Converters;
using DetSharp.Engine;
using DetSharp.Engine.Checkpoints;
using DetSharp.Models.Detectors;
using DetSharp.Registry;

namespace DetSharp.Cli.Tests;

/// <summary>A temporary folder deleted at dispose: tests write here, never into the repository.</summary>
internal sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("detsharp-hostile-").FullName;

    public string this[string relative] => System.IO.Path.Combine(Path, relative);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>
/// Small real inputs for the hostile-input tests (issue 27): a synthetic shapes dataset converted to COCO, a random-weights
/// checkpoint of the slim demo model, COCO files edited record by record, and crafted PyTorch archives.
/// </summary>
internal static class HostileFixtures
{
    /// <summary>Trained from scratch (no pretrained download), cheap per iteration; its classes are the generator's.</summary>
    public const string SlimConfig = "configs/demo/mask_rcnn_r18_slim_fpn_demo.py";

    public sealed record Shapes(string TrainDir, string TrainJson, string ValDir, string ValJson);

    /// <summary>A few synthetic shapes images per split (the demo's generator) with their COCO annotation files.</summary>
    public static Shapes MakeShapes(string root, int train = 4, int val = 2)
    {
        var (t, v) = SyntheticShapes.Generate(Path.Combine(root, "data"),
            new SyntheticShapesOptions { Seed = 3, TrainImages = train, ValImages = val, Width = 128, Height = 96 });
        foreach (var split in new[] { t, v })
        {
            ViaToCoco.Convert(new ViaToCocoOptions
            {
                ViaJson = split.ViaJson, Output = Path.Combine(split.Dir, "annotation_coco.json"),
                Classes = SyntheticShapes.Classes, CategoryAttribute = SyntheticShapes.CategoryAttribute,
            });
        }
        return new Shapes(t.Dir, Path.Combine(t.Dir, "annotation_coco.json"), v.Dir, Path.Combine(v.Dir, "annotation_coco.json"));
    }

    /// <summary><c>--cfg-options</c> pointing train/val/test at <paramref name="d"/>, small test scale, plus <paramref name="extra"/>.</summary>
    public static string[] DataOptions(Shapes d, params string[] extra) =>
    [
        "--cfg-options",
        $"data.train.ann_file={d.TrainJson}", $"data.train.img_prefix={d.TrainDir}/",
        $"data.val.ann_file={d.ValJson}", $"data.val.img_prefix={d.ValDir}/",
        $"data.test.ann_file={d.ValJson}", $"data.test.img_prefix={d.ValDir}/",
        "data.train.pipeline.2.img_scale=(128,96)", "data.test.pipeline.1.img_scale=(128,96)", "data.val.pipeline.1.img_scale=(128,96)",
        "data.workers_per_gpu=0",
        .. extra,
    ];

    /// <summary>A random-weights checkpoint of <see cref="SlimConfig"/> in mmcv's layout (CLASSES in meta; epoch/iter when given).</summary>
    public static string RandomCheckpoint(string path, int? epoch = null, int? iter = null)
    {
        ComponentRegistration.EnsureRegistered();
        var cfg = ConfigTools.Load(Path.Combine(RepoPaths.Root, SlimConfig));
        using var model = Registries.Models.Build<BaseDetector>(cfg.Get<ConfigDict>("model"));
        var meta = new List<KeyValuePair<string, object?>> { new("CLASSES", new PyTuple([.. SyntheticShapes.Classes])) };
        if (epoch is not null) meta.Add(new("epoch", (long)epoch.Value));
        if (iter is not null) meta.Add(new("iter", (long)iter.Value));
        Checkpoint.Save(path, model, null, meta);
        return path;
    }

    /// <summary>Writes <paramref name="target"/>: the COCO file <paramref name="source"/> edited by <paramref name="edit"/>.</summary>
    public static string EditCoco(string source, string target, Action<JsonObject> edit)
    {
        var root = JsonNode.Parse(File.ReadAllText(source))!.AsObject();
        edit(root);
        File.WriteAllText(target, root.ToJsonString());
        return target;
    }

    public static string Sha256(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));

    /// <summary>
    /// A PyTorch zip archive whose pickle is <c>{'w': _rebuild_tensor_v2(storage, offset, size, stride)}</c> over one
    /// FloatStorage that declares <paramref name="storageNumel"/> elements and holds <paramref name="storageBytes"/> bytes.
    /// </summary>
    public static string CraftedCheckpoint(string path, int storageNumel, int storageBytes, int offset, int[] size, int[] stride)
    {
        var pkl = new MemoryStream();
        void Op(char c) => pkl.WriteByte((byte)c);
        void Int(int v) { Op('J'); pkl.Write(BitConverter.GetBytes(v)); }
        void Str(string s) { Op('X'); var b = Encoding.UTF8.GetBytes(s); pkl.Write(BitConverter.GetBytes(b.Length)); pkl.Write(b); }
        void Global(string module, string name) { Op('c'); pkl.Write(Encoding.ASCII.GetBytes($"{module}\n{name}\n")); }
        void Tuple(int[] values) { Op('('); foreach (int v in values) Int(v); Op('t'); }
        pkl.Write([0x80, 0x02]);
        Op('}');
        Str("w");
        Global("torch._utils", "_rebuild_tensor_v2");
        Op('(');
        Op('('); Str("storage"); Global("torch", "FloatStorage"); Str("0"); Str("cpu"); Int(storageNumel); Op('t'); Op('Q');
        Int(offset);
        Tuple(size);
        Tuple(stride);
        pkl.WriteByte(0x89); // False: requires_grad
        Global("collections", "OrderedDict"); Op(')'); Op('R');
        Op('t');
        Op('R');
        Op('s');
        Op('.');
        using (var zip = new ZipArchive(File.Create(path), ZipArchiveMode.Create))
        {
            void Entry(string name, byte[] data)
            {
                using var s = zip.CreateEntry(name, CompressionLevel.NoCompression).Open();
                s.Write(data);
            }
            Entry("archive/data.pkl", pkl.ToArray());
            Entry("archive/data/0", new byte[storageBytes]);
            Entry("archive/version", "3\n"u8.ToArray());
        }
        return path;
    }
}
