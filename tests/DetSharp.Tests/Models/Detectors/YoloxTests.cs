using DetSharp.Config;
using DetSharp.Models.DenseHeads;
using DetSharp.Models.Detectors;
using DetSharp.Models.TaskModules;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.Detectors;

/// <summary>
/// YOLOX's own steps that the MMDetection parity fixture (Parity/YoloxParityTests) does not reach: the training-time
/// batch resize, the random size draws, and SimOTA on a hand-made case.
/// </summary>
public sealed class YoloxTests
{
    private static YOLOX SlimTiny()
    {
        var model = Config.Config.FromFile(ModelFixtures.RepoConfig("demo/yolox_tiny_demo.py")).Get<ConfigDict>("model").Clone();
        return Assert.IsType<YOLOX>(ModelFixtures.Build(model));
    }

    [Fact]
    public void Preprocess_resizes_the_batch_and_scales_the_boxes_only_away_from_the_input_size()
    {
        using var model = SlimTiny();
        using var scope = NewDisposeScope();
        var img = rand(2, 3, 256, 256);
        Tensor[] boxes = [tensor(new float[] { 10, 20, 110, 220 }, [1, 4])];
        var (same, sameBoxes) = model.Preprocess(img, boxes);
        Assert.Same(img, same);
        Assert.Same(boxes[0], sameBoxes[0]);

        model.SeedRandomResize(3);
        model.train();
        // random_size_interval=10: the size changes after the 10th iteration, to 32 * s with s in [6, 10].
        var data = SyntheticData.Batch(h: 256, w: 256, numClasses: 3);
        for (int i = 0; i < 10; i++)
        {
            Assert.Equal((256, 256), model.InputSize);
            using var s = NewDisposeScope();
            model.ForwardTrain(data.Img, data.Metas, data.Boxes, data.Labels);
        }
        var (h, w) = model.InputSize;
        Assert.Equal(h, w);
        Assert.InRange(h / 32, 6, 10);
        Assert.Equal(0, h % 32);
        var (resized, scaled) = model.Preprocess(img, boxes);
        Assert.Equal(new long[] { 2, 3, h, w }, resized.shape);
        float f = h / 256f;
        Assert.Equal(new[] { 10 * f, 20 * f, 110 * f, 220 * f }, scaled[0].data<float>().ToArray());
        // The bilinear resize keeps a constant image constant.
        var flat = model.Preprocess(full(1, 3, 256, 256, 7f), boxes).Img;
        Assert.True(flat.allclose(full(1, 3, h, w, 7f), rtol: 0, atol: 1e-5));
    }

    [Fact]
    public void SimOta_gives_each_gt_its_cheapest_centre_priors_and_nothing_outside()
    {
        using var scope = NewDisposeScope();
        var assigner = new SimOTAAssigner();
        // A 4x4 grid of stride-8 priors (cell centres), one GT box over the top-left 2x2 cells.
        var xs = arange(4, ScalarType.Float32) * 8 + 4;
        var priors = stack([xs.repeat(4), xs.repeat_interleave(4), full(16, 8f), full(16, 8f)], -1);
        var gt = tensor(new float[] { 0, 0, 16, 16 }, [1, 4]);
        // Predictions: the GT box exactly at prior 0, far off elsewhere; class 1 likely everywhere.
        var decoded = (priors[.., ..2].repeat(1, 2) + tensor(new float[] { -2, -2, 2, 2 })).clone();
        decoded[0] = tensor(new float[] { 0, 0, 16, 16 });
        var scores = full(16, 2, 0.1f);
        scores[.., 1] = 0.9f;
        var result = assigner.Assign(scores, priors, decoded, gt, tensor(new long[] { 1 }));
        var gtInds = result.GtInds.data<long>().ToArray();
        // IoU 1 at prior 0 and 1/16 at priors 1, 4, 5: dynamic k = int(1 + 3/16) = 1 → only prior 0.
        Assert.Equal(1, gtInds[0]);
        Assert.Equal(15, gtInds.Skip(1).Count(v => v == 0));
        Assert.Equal(1L, result.Labels!.data<long>()[0]);
        Assert.Equal(1f, result.MaxOverlaps.data<float>()[0], 5);
        Assert.True(result.MaxOverlaps.data<float>().Skip(1).All(v => v == -100000f));
    }
}
