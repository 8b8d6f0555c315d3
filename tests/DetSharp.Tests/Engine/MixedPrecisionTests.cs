using DetSharp.Config;
using DetSharp.Engine;
using DetSharp.Models;
using DetSharp.Models.Common;
using DetSharp.Models.Detectors;
using DetSharp.Models.RoIHeads;
using DetSharp.Tests.Models;
using DetSharp.Tests.TestSupport;
using DetSharp.Utils;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DetSharp.Tests.Engine;

/// <summary>bfloat16 autocast on the slim Mask R-CNN of the parity fixtures, against float32; and the config switches.</summary>
public sealed class MixedPrecisionTests(ITestOutputHelper output)
{
    private const string Slim = SlimModelParity.Dir + "mask_rcnn_slim.pth";

    /// <summary>The fixture's two balloon train images, at half scale to keep the test short.</summary>
    private static (Tensor Img, ImgMeta[] Metas, Tensor[] Boxes, Tensor[] Labels, DetSharp.Structures.IInstanceMasks[] Masks) Batch() =>
        SlimModelParity.BalloonTrainBatch(["34020010494_e5cb88e1c4_k.jpg", "25899693952_7c8b8b9edc_k.jpg"], longEdge: 666, shortEdge: 400);

    /// <summary>The slim model with every sampler taking all candidates, so that both precisions draw nothing at random.</summary>
    private static TwoStageDetector SlimModel()
    {
        var cfg = ModelFixtures.ModelConfig(SharedData.FullPath(SlimModelParity.Dir + "mask_rcnn_slim.model_config.py"));
        cfg.Get<ConfigDict>("train_cfg.rpn.sampler")["num"] = 100000000L;
        cfg.Get<ConfigDict>("train_cfg.rcnn.sampler")["num"] = 100000000L;
        var model = (TwoStageDetector)ModelFixtures.Build(cfg);
        Assert.True(CheckpointLoader.Load(model, SharedData.FullPath(Slim), strict: true).ExactMatch);
        return model;
    }

    /// <summary>
    /// Tolerances: the total loss within 2e-2 relative of float32, each loss term within 5e-2 (bfloat16 keeps 8 bits of
    /// mantissa; the RoI classification loss moves most, by about 2%, as logits near ties round differently).
    /// </summary>
    [SharedFact(Slim)]
    public void Bfloat16_losses_of_a_fixed_batch_are_close_to_float32()
    {
        using var model = SlimModel();
        model.train();
        using var scope = NewDisposeScope();
        var (img, metas, boxes, labels, masks) = Batch();
        var (_, fp32) = model.ForwardTrain(img, metas, boxes, labels, masks).Parse();
        Dictionary<string, double> bf16;
        using (Autocast.Enter(CPU, ScalarType.BFloat16)) (_, bf16) = model.ForwardTrain(img, metas, boxes, labels, masks).Parse();
        foreach (var k in fp32.Keys) output.WriteLine($"{k}: float32 {fp32[k]:G6}, bfloat16 {bf16[k]:G6}, relative {Math.Abs(bf16[k] - fp32[k]) / Math.Abs(fp32[k]):G3}");
        Assert.Equal(fp32.Keys, bf16.Keys);
        foreach (var k in fp32.Keys.Where(k => k.StartsWith("loss", StringComparison.Ordinal)))
        {
            double tolerance = k == "loss" ? 2e-2 : 5e-2;
            Assert.True(Math.Abs(bf16[k] - fp32[k]) <= tolerance * Math.Abs(fp32[k]), $"{k}: bfloat16 {bf16[k]} against float32 {fp32[k]}");
        }
    }

    [SharedFact(Slim)]
    public void Bfloat16_training_steps_stay_finite_and_the_loss_goes_down()
    {
        manual_seed(0);
        using var model = SlimModel();
        model.train();
        var batch = Batch();
        using var opt = optim.SGD(model.parameters().Where(p => p.requires_grad), 0.002, momentum: 0.9, weight_decay: 1e-4);
        var history = new List<double>();
        for (int i = 0; i < 5; i++)
        {
            using var scope = NewDisposeScope();
            opt.zero_grad();
            Tensor total;
            Dictionary<string, double> log;
            using (Autocast.Enter(CPU, ScalarType.BFloat16)) (total, log) = model.ForwardTrain(batch.Img, batch.Metas, batch.Boxes, batch.Labels, batch.Masks).Parse();
            Assert.Equal(ScalarType.Float32, total.dtype);
            total.backward();
            Assert.All(model.parameters().Where(p => p.grad is not null), p => Assert.Equal(ScalarType.Float32, p.grad!.dtype));
            opt.step();
            history.Add(log["loss"]);
        }
        output.WriteLine(string.Join(" ", history.Select(v => v.ToString("F4", System.Globalization.CultureInfo.InvariantCulture))));
        Assert.All(history, v => Assert.True(double.IsFinite(v)));
        Assert.True(history[^1] < history[0], $"loss did not go down: {string.Join(", ", history)}");
        Assert.All(model.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
    }

    /// <summary>
    /// Inference through the model's own switch (<see cref="BaseDetector.AutocastDtype"/>, what the config sets). The
    /// fixture's weights are random, so its final scores lie within 1e-3 of each other and NMS keeps whichever box rounding
    /// favours: detections cannot be compared box for box (no trained checkpoint is available offline). Compared instead:
    /// the RoI head's class logits and box deltas on the float32 proposals, from bfloat16 features (within 5% of their
    /// largest magnitude), and the end-to-end bfloat16 test returns as many detections, in float32 and finite.
    /// </summary>
    [SharedFact(Slim)]
    public void Bfloat16_inference_keeps_the_RoI_head_outputs_close_to_float32()
    {
        using var model = SlimModelParity.LoadSlim("mask_rcnn");
        model.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (chw, meta) = MmdetInput.Load(SharedData.FullPath("datasets/balloon/val/" + SlimModelParity.TestImages("mask_rcnn")[0]));
        var img = MmdetInput.Batch([(chw, meta)]);
        var head = (StandardRoIHead)model.RoiHead;
        var x32 = model.ExtractFeat(img);
        var rois = BoxTools.Bbox2Roi(model.SimpleTestRpn(x32, [meta]));
        var (cls32, reg32, _) = head.BboxForward(x32, rois);
        var fp32 = model.SimpleTest(img, [meta])[0];

        model.AutocastDtype = ScalarType.BFloat16;
        Tensor cls16, reg16;
        DetectionResult bf16;
        using (model.EnterAutocast(CPU))
        {
            var x16 = model.ExtractFeat(img);
            Assert.Equal(ScalarType.BFloat16, x16[0].dtype);
            (cls16, reg16, _) = head.BboxForward(x16, rois);
            bf16 = model.SimpleTest(img, [meta])[0];
        }
        Assert.False(Autocast.IsEnabled(CPU));
        foreach (var (name, a, b) in new[] { ("cls_score", cls32, cls16), ("bbox_pred", reg32, reg16) })
        {
            double diff = (b.to_type(ScalarType.Float32) - a).abs().max().item<float>(), scale = a.abs().max().item<float>();
            output.WriteLine($"{name} on {rois.shape[0]} RoIs: max deviation {diff:G3}, largest magnitude {scale:G3}");
            Assert.True(diff <= 0.05 * scale, $"{name}: bfloat16 deviates by {diff} (largest float32 magnitude {scale})");
        }
        Assert.Equal(fp32.Count, bf16.Count);
        Assert.All(bf16.Bboxes, v => Assert.True(float.IsFinite(v)));
    }

    private static Config.Config ConfigWith(string text)
    {
        string path = Path.Combine(Directory.CreateTempSubdirectory("detsharp-amp-").FullName, "cfg.py");
        File.WriteAllText(path, text);
        return Config.Config.FromFile(path);
    }

    [Fact]
    public void Fp16_on_CPU_runs_bfloat16_and_says_that_loss_scale_is_ignored()
    {
        var lines = new List<string>();
        var mp = MixedPrecision.FromConfig(ConfigWith("fp16 = dict(loss_scale=512.)\n"), DeviceType.CPU, lines.Add);
        Assert.Equal(new MixedPrecision(ScalarType.BFloat16, null), mp);
        Assert.Contains(lines, l => l.Contains("loss_scale=512", StringComparison.Ordinal) && l.Contains("is not needed and ignored", StringComparison.Ordinal));
    }

    [Fact]
    public void Fp16_on_CUDA_runs_float16_with_mmcv_loss_scaling()
    {
        Assert.Equal(new MixedPrecision(ScalarType.Float16, "dynamic"), MixedPrecision.FromConfig(ConfigWith("fp16 = dict(loss_scale='dynamic')\n"), DeviceType.CUDA));
        Assert.Equal(new MixedPrecision(ScalarType.Float16, MixedPrecision.DefaultLossScale), MixedPrecision.FromConfig(ConfigWith("fp16 = dict()\n"), DeviceType.CUDA));
    }

    [Fact]
    public void Mixed_precision_setting_is_checked()
    {
        Assert.Null(MixedPrecision.FromConfig(ConfigWith("a = 1\n"), DeviceType.CPU));
        Assert.Equal(ScalarType.BFloat16, MixedPrecision.FromConfig(ConfigWith("mixed_precision = dict(dtype='bfloat16')\n"), DeviceType.CPU)!.Dtype);
        Assert.Contains("CUDA only", Assert.Throws<DetSharpException>(() => MixedPrecision.FromConfig(ConfigWith("mixed_precision = dict(dtype='float16')\n"), DeviceType.CPU)).Message);
        Assert.Contains("'int8'", Assert.Throws<DetSharpException>(() => MixedPrecision.FromConfig(ConfigWith("mixed_precision = dict(dtype='int8')\n"), DeviceType.CPU)).Message);
        Assert.Contains("both fp16 and mixed_precision", Assert.Throws<DetSharpException>(() =>
            MixedPrecision.FromConfig(ConfigWith("fp16 = dict(loss_scale=512.)\nmixed_precision = dict(dtype='bfloat16')\n"), DeviceType.CPU)).Message);
        Assert.Contains("loss_scale", Assert.Throws<DetSharpException>(() => MixedPrecision.FromConfig(ConfigWith("fp16 = dict(loss_scale='x')\n"), DeviceType.CUDA)).Message);
    }

    [Fact]
    public void GradScaler_unscales_skips_overflows_and_adapts_a_dynamic_scale()
    {
        using var p = new TorchSharp.Modules.Parameter(ones(3));
        var scaler = new GradScaler(initScale: 8, growthInterval: 2);
        using (var loss = scaler.ScaleLoss((p * 2).sum())) loss.backward();
        Assert.True(scaler.Unscale([p]));
        Assert.Equal([2f, 2f, 2f], p.grad!.data<float>().ToArray());
        scaler.Update(overflowed: false);
        scaler.Update(overflowed: false);
        Assert.Equal(16, scaler.Scale);
        p.grad!.fill_(float.PositiveInfinity);
        Assert.False(scaler.Unscale([p]));
        scaler.Update(overflowed: true);
        Assert.Equal(8, scaler.Scale);

        var fixedScale = GradScaler.FromLossScale(512.0, "fp16");
        Assert.False(fixedScale.Dynamic);
        fixedScale.Update(overflowed: true);
        Assert.Equal(512, fixedScale.Scale);
    }
}
