using DetSharp.Config;
using DetSharp.Engine.Checkpoints;
using DetSharp.Models.Backbones;
using DetSharp.Models.Common;
using DetSharp.Models.Detectors;
using DetSharp.Models.Onnx;
using DetSharp.Models.Weights;
using Microsoft.ML.OnnxRuntime;
using OpenCvSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.Weights;

/// <summary>
/// The ImageNet ResNet-18 of the NuGet package Microsoft.ML.DnnImageFeaturizer.ResNet18 (restored by the build):
/// its initializers map onto DetSharp's ResNet (stage_blocks 2, 2, 2, 3; pad_mode 'cntk') and the pooled features
/// equal ONNX Runtime's on real images, preprocessed by the package's own ResNetPreprocess.onnx.
/// </summary>
public sealed class ResNet18OnnxTests(ITestOutputHelper output)
{
    private static readonly string[] Images =
    [
        "datasets/balloon/val/14898532020_ba6199dd22_k.jpg",
        "datasets/balloon/val/16335852991_f55de7958d_k.jpg",
        "datasets/balloon/val/24631331976_defa3bb61f_k.jpg",
    ];

    internal static ResNet CntkResNet18(int[]? outIndices = null) =>
        new(18, new ResNetArguments(OutIndices: outIndices ?? [3], NormEval: true), stageBlocks: [2, 2, 2, 3], padMode: "cntk");

    [Fact]
    public void Initializers_map_onto_the_cntk_resnet_by_graph_structure()
    {
        var weights = PretrainedWeights.ImportOnnx(PretrainedWeights.LocateResNet18File());
        Assert.Equal([2, 2, 2, 3], weights.StageBlocks);
        Assert.Equal("cntk", weights.PadMode);
        Assert.Empty(weights.Unmapped);
        Assert.Equal(22, weights.StateDict.Keys.Count(k => k.EndsWith("conv1.weight", StringComparison.Ordinal) || k.EndsWith("conv2.weight", StringComparison.Ordinal) || k.EndsWith("downsample.0.weight", StringComparison.Ordinal)));
        Assert.Equal([128, 64, 1, 1], weights.StateDict["layer2.0.downsample.0.weight"].shape);
        Assert.Equal([512, 512, 3, 3], weights.StateDict["layer4.2.conv2.weight"].shape);

        using var model = CntkResNet18();
        // Same keys in PyTorch's state_dict order, every tensor loaded (strict).
        Assert.Equal(ModuleTools.StateDict(model).Select(e => e.Key), weights.StateDict.Keys);
        var report = Checkpoint.LoadStateDict(model, weights.StateDict, strict: true);
        Assert.True(report.ExactMatch);
        foreach (var t in weights.StateDict.Values) t.Dispose();
    }

    [SharedFact("datasets/balloon/val/14898532020_ba6199dd22_k.jpg")]
    public void Pooled_features_equal_onnx_runtime_on_balloon_images()
    {
        string onnx = PretrainedWeights.LocateResNet18File();
        string prepPath = PretrainedWeights.LocateResNet18File(PretrainedWeights.ResNet18PreprocessRelativePath);
        using var prep = new InferenceSession(prepPath);
        using var net = new InferenceSession(onnx);
        var meanImage = OnnxModel.Load(prepPath).InitializersByName["MeanImage"].Data; // [1, 3, 224, 224], B, G, R planes

        using var model = CntkResNet18();
        var weights = PretrainedWeights.Read(PretrainedWeights.ResNet18Uri);
        Checkpoint.LoadStateDict(model, weights, strict: true);
        model.eval();

        foreach (var image in Images)
        {
            var (rgb, bgr) = Load224(SharedData.FullPath(image));

            // The package's preprocessing (RGB in 0..255 → BGR minus the mean image), run by ONNX Runtime ...
            float[] preprocessed = Run(prep, rgb);
            // ... is what DetSharp computes from it (BGR, the same mean image).
            var ours = bgr.Select((v, i) => v - meanImage[i]).ToArray();
            Assert.True(MaxAbs(ours, preprocessed) < 1e-4, $"{image}: preprocessing differs by {MaxAbs(ours, preprocessed)}");

            float[] expected = Run(net, preprocessed);
            Assert.Equal(512, expected.Length);
            float[] actual = Features(model, preprocessed);
            double diff = MaxAbs(actual, expected);
            output.WriteLine($"{Path.GetFileName(image)}: max |DetSharp - ONNX Runtime| over 512 pooled features = {diff:E2} (max |feature| {expected.Max(Math.Abs):F3})");
            Assert.True(diff < 1e-3, $"{image}: pooled features differ by up to {diff}");

            // img_norm_cfg's per-channel mean (what a detection pipeline applies) against the spatial mean image.
            var channelMean = PretrainedWeights.ResNet18ImgNormMean;
            var approx = bgr.Select((v, i) => (float)(v - channelMean[i / (224 * 224)])).ToArray();
            float[] approxFeatures = Features(model, approx);
            output.WriteLine($"   with img_norm_cfg's per-channel mean instead of the mean image: cosine {Cosine(approxFeatures, expected):F5}, max diff {MaxAbs(approxFeatures, expected):F3}");
            Assert.True(Cosine(approxFeatures, expected) > 0.99);
        }
        foreach (var t in weights.Values) t.Dispose();
    }

    [Fact]
    public void Cntk_padding_equals_pytorch_padding_on_even_sizes_and_follows_onnx_on_odd_sizes()
    {
        using var cntk = CntkResNet18([0, 1, 2, 3]);
        using var pytorch = new ResNet(18, new ResNetArguments(OutIndices: [0, 1, 2, 3]), stageBlocks: [2, 2, 2, 3]);
        Checkpoint.LoadStateDict(pytorch, cntk.state_dict(), strict: true);
        cntk.eval();
        pytorch.eval();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var x = randn(1, 3, 64, 96, generator: new TorchSharp.torch.Generator(3));
        var a = cntk.forward(x);
        var b = pytorch.forward(x);
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(b[i].shape, a[i].shape);
            Assert.True(a[i].allclose(b[i], rtol: 1e-5, atol: 1e-5), $"stage {i}");
        }
        // 65×65: CNTK's fixed pads (3 before, 2 after) give a 32×32 stem output and 16×16 after max-pool; PyTorch's give 33 and 17.
        var odd = randn(1, 3, 65, 65);
        Assert.Equal([1, 64, 16, 16], cntk.forward(odd)[0].shape);
        Assert.Equal([1, 64, 17, 17], pytorch.forward(odd)[0].shape);
    }

    [Fact]
    public void Balloon_r18_configs_load_the_nuget_backbone_with_an_empty_report()
    {
        foreach (var config in new[] { "balloon/mask_rcnn_r18_fpn_1x_balloon.py", "balloon/cascade_mask_rcnn_r18_fpn_1x_balloon.py" })
        {
            var cfg = Config.Config.FromFile(ModelFixtures.RepoConfig(config));
            Assert.Equal(PretrainedWeights.ResNet18ImgNormMean, cfg.Get<ConfigList>("img_norm_cfg.mean").Select(Convert.ToDouble));
            Assert.False(cfg.Get<bool>("img_norm_cfg.to_rgb"));
            using var model = (TwoStageDetector)ModelFixtures.Build(cfg.Get<ConfigDict>("model"));
            var logged = new List<string>();
            var loads = PretrainedInit.InitWeights(model, logged.Add);
            var load = Assert.Single(loads);
            Assert.Equal("backbone", load.Module);
            Assert.Equal("nuget://resnet18-imagenet", load.Checkpoint);
            Assert.True(load.Report.ExactMatch, load.Report.Message);
            Assert.Equal(110, load.Report.Loaded.Count(k => !k.EndsWith("num_batches_tracked", StringComparison.Ordinal)));
            output.WriteLine($"{config}: {string.Join(" | ", logged)}");
        }
    }

    private static (float[] Rgb, float[] Bgr) Load224(string path)
    {
        using var img = Cv2.ImRead(path, ImreadModes.Color);
        using var resized = new Mat();
        Cv2.Resize(img, resized, new OpenCvSharp.Size(224, 224), 0, 0, InterpolationFlags.Linear);
        resized.GetArray(out Vec3b[] pixels);
        int hw = 224 * 224;
        var rgb = new float[3 * hw];
        var bgr = new float[3 * hw];
        for (int i = 0; i < hw; i++)
        {
            for (int c = 0; c < 3; c++)
            {
                bgr[c * hw + i] = pixels[i][c];
                rgb[(2 - c) * hw + i] = pixels[i][c];
            }
        }
        return (rgb, bgr);
    }

    private static float[] Run(InferenceSession session, float[] chw)
    {
        using var value = OrtValue.CreateTensorValueFromMemory(chw, [1, 3, 224, 224]);
        using var options = new RunOptions();
        using var outputs = session.Run(options, [session.InputNames[0]], [value], [session.OutputNames[0]]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    private static float[] Features(ResNet model, float[] chw)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var stage4 = model.forward(tensor(chw, [1, 3, 224, 224]))[0];
        return stage4.mean([2, 3]).data<float>().ToArray();
    }

    private static double MaxAbs(float[] a, float[] b) => a.Zip(b, (x, y) => Math.Abs((double)x - y)).Max();

    private static double Cosine(float[] a, float[] b)
    {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            dot += (double)a[i] * b[i];
            na += (double)a[i] * a[i];
            nb += (double)b[i] * b[i];
        }
        return dot / Math.Sqrt(na * nb);
    }
}
