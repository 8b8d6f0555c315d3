using System.Text.Json;
using DetSharp.Config;
using DetSharp.Models;
using DetSharp.Models.Detectors;
using DetSharp.Structures;
using DetSharp.Tests.TestSupport;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models;

/// <summary>
/// Training-loss parity with MMDetection 2.25: the slim models on the first 2 balloon train images, with every
/// sampler taking all candidates (num = 1e8), give the fixture's <c>log_vars</c> (relative 1e-4) and per-level RPN losses.
/// </summary>
public sealed class TrainLossParityTests(ITestOutputHelper output)
{
    private const string Dir = "fixtures/mmdet/parity/";

    internal static (Tensor Img, ImgMeta[] Metas, Tensor[] Boxes, Tensor[] Labels, IInstanceMasks[] Masks) BalloonTrainBatch(IEnumerable<string> fileNames)
    {
        using var ann = JsonDocument.Parse(File.ReadAllText(SharedFixtures.FullPath("datasets/balloon/train/annotation_coco.json")));
        var images = ann.RootElement.GetProperty("images").EnumerateArray().ToList();
        var anns = ann.RootElement.GetProperty("annotations").EnumerateArray().ToList();
        var inputs = new List<(float[], ImgMeta)>();
        var boxes = new List<Tensor>();
        var labels = new List<Tensor>();
        var masks = new List<IInstanceMasks>();
        foreach (var name in fileNames)
        {
            var info = images.First(i => i.GetProperty("file_name").GetString() == name);
            int id = info.GetProperty("id").GetInt32(), h = info.GetProperty("height").GetInt32(), w = info.GetProperty("width").GetInt32();
            var (chw, meta) = MmdetInput.Load(SharedFixtures.FullPath("datasets/balloon/train/" + name));
            inputs.Add((chw, meta));
            var mine = anns.Where(a => a.GetProperty("image_id").GetInt32() == id && a.GetProperty("iscrowd").GetInt32() == 0).ToList();
            var b = new List<float>();
            var m = new List<byte[]>();
            foreach (var a in mine)
            {
                var bb = a.GetProperty("bbox").EnumerateArray().Select(v => v.GetDouble()).ToArray();
                float[] box = [(float)bb[0], (float)bb[1], (float)(bb[0] + bb[2]), (float)(bb[1] + bb[3])];
                for (int c = 0; c < 4; c++)
                {
                    float v = box[c] * meta.ScaleFactor[c];
                    b.Add(Math.Clamp(v, 0, c % 2 == 0 ? meta.ImgShape.Width : meta.ImgShape.Height));
                }
                var rle = Rle.Merge(RleConvert.FrPyObjects(a.GetProperty("segmentation"), h, w).ToList());
                m.Add(rle.Decode());
            }
            boxes.Add(tensor(b.ToArray(), [mine.Count, 4]));
            labels.Add(zeros(mine.Count, ScalarType.Int64));
            masks.Add(new BitmapMasks(m.ToArray(), h, w).Resize(meta.ImgShape.Height, meta.ImgShape.Width).Pad(meta.PadShape.Height, meta.PadShape.Width));
        }
        return (MmdetInput.Batch(inputs), inputs.Select(i => i.Item2).ToArray(), boxes.ToArray(), labels.ToArray(), masks.ToArray());
    }

    [SharedFixtureTheory(Dir + "mask_rcnn_slim.pth")]
    [InlineData("mask_rcnn")]
    [InlineData("cascade_mask_rcnn")]
    public void TrainLosses_MatchMmdet(string name)
    {
        using var fixture = SharedFixtures.LoadJson(Dir + name + "_slim.outputs.json");
        var train = fixture.RootElement.GetProperty("train");
        var cfg = ModelFixtures.ModelConfig(SharedFixtures.FullPath(Dir + name + "_slim.model_config.py"));
        cfg.Get<ConfigDict>("train_cfg.rpn.sampler")["num"] = 100000000L;
        switch (cfg.Get<object>("train_cfg.rcnn"))
        {
            case ConfigDict d: d.Get<ConfigDict>("sampler")["num"] = 100000000L; break;
            case IList<object?> list:
                foreach (var item in list) ((ConfigDict)item!).Get<ConfigDict>("sampler")["num"] = 100000000L;
                break;
        }
        using var model = (TwoStageDetector)ModelFixtures.Build(cfg);
        Assert.True(CheckpointLoader.Load(model, SharedFixtures.FullPath(Dir + name + "_slim.pth"), strict: true).IsExact);
        model.train();

        var names = train.GetProperty("images").EnumerateArray().Select(v => v.GetString()!).ToList();
        var (img, metas, boxes, labels, masks) = BalloonTrainBatch(names);
        Assert.Equal(train.GetProperty("batch_input_shape").EnumerateArray().Select(v => v.GetInt64()).ToArray(), img.shape);
        var expBoxes = train.GetProperty("gt_bboxes").EnumerateArray().ToArray();
        for (int i = 0; i < boxes.Length; i++)
        {
            var e = expBoxes[i].EnumerateArray().SelectMany(r => r.EnumerateArray().Select(v => v.GetSingle())).ToArray();
            var a = boxes[i].data<float>().ToArray();
            Assert.Equal(e.Length, a.Length);
            for (int k = 0; k < e.Length; k++) Assert.True(Math.Abs(e[k] - a[k]) <= 1e-4 * Math.Abs(e[k]) + 1e-4, $"gt box {i}[{k}]: {a[k]} vs {e[k]}");
        }

        var losses = model.ForwardTrain(img, metas, boxes, labels, masks);
        var (_, log) = losses.Parse();
        foreach (var (key, value) in log) output.WriteLine($"{key}: {value:G9}");
        foreach (var prop in train.GetProperty("log_vars").EnumerateObject())
        {
            double e = prop.Value.GetDouble();
            Assert.True(log.ContainsKey(prop.Name), $"missing loss '{prop.Name}'");
            Assert.True(Math.Abs(log[prop.Name] - e) <= 1e-4 * Math.Abs(e) + 1e-12, $"{prop.Name}: expected {e:G9}, got {log[prop.Name]:G9}");
        }
        Assert.Equal(train.GetProperty("log_vars").EnumerateObject().Select(p => p.Name), log.Keys);
        var raw = losses.Items.ToDictionary(i => i.Key, i => i.Values);
        foreach (var key in new[] { "loss_rpn_cls", "loss_rpn_bbox" })
        {
            var e = train.GetProperty("raw_losses").GetProperty(key).EnumerateArray().Select(v => v.GetDouble()).ToArray();
            Assert.Equal(e.Length, raw[key].Length);
            for (int l = 0; l < e.Length; l++)
            {
                double a = raw[key][l].item<float>();
                Assert.True(Math.Abs(a - e[l]) <= 1e-4 * Math.Abs(e[l]) + 1e-12, $"{key}[{l}]: expected {e[l]:G9}, got {a:G9}");
            }
        }
        losses.DisposeAll();
    }
}
