using DetSharp.Models.Losses;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.Losses;

/// <summary>DIoU, CIoU and Bounded IoU losses worked out by hand from MMDetection's formulas.</summary>
public sealed class IoULossFamilyTests
{
    private static Tensor Box(params float[] xyxy) => tensor(xyxy).view(-1, 4);

    [Fact]
    public void DIoU_SubtractsCentreDistanceOverEnclosingDiagonal()
    {
        // [0,0,2,2] vs [1,1,3,3]: IoU 1/7; enclosing box 3x3, c² = 18; centres (1,1), (2,2), ρ² = 2
        var loss = new DIoULoss().Forward(Box(0, 0, 2, 2), Box(1, 1, 3, 3));
        Assert.Equal(1 - (1.0 / 7 - 2.0 / 18), loss.item<float>(), 5);
        // identical boxes: no loss; [N, 4] weights are averaged per box, avg_factor divides the sum
        var two = new DIoULoss(lossWeight: 3).Forward(Box(0, 0, 2, 2, 0, 0, 2, 2), Box(1, 1, 3, 3, 0, 0, 2, 2),
            tensor(new float[] { 1, 1, 1, 1, 0, 0, 0, 0 }).view(2, 4), avgFactor: 2);
        Assert.Equal(3 * (1 - (1.0 / 7 - 2.0 / 18)) / 2, two.item<float>(), 4);
    }

    [Fact]
    public void CIoU_AddsTheAspectRatioTerm_WhenIoUExceedsHalf()
    {
        // [0,0,4,2] vs [0,0,4,3]: IoU 8/12; enclosing 4x3, c² = 25; centres (2,1), (2,1.5), ρ² = 0.25;
        // v = 4/π² (atan(4/3) − atan(4/2))², α = v / (1 − IoU + v)
        double iou = 8.0 / 12, v = 4 / (Math.PI * Math.PI) * Math.Pow(Math.Atan(4.0 / 3) - Math.Atan(2), 2), alpha = v / (1 - iou + v);
        var loss = new CIoULoss().Forward(Box(0, 0, 4, 2), Box(0, 0, 4, 3));
        Assert.Equal(1 - (iou - 0.25 / 25 - alpha * v), loss.item<float>(), 5);
        // IoU 1/7 ≤ 0.5: α = 0, so CIoU equals DIoU even though the aspect ratios differ
        var low = new CIoULoss().Forward(Box(0, 0, 2, 2), Box(1, 1, 3, 4)).item<float>();
        Assert.Equal(new DIoULoss().Forward(Box(0, 0, 2, 2), Box(1, 1, 3, 4)).item<float>(), low, 6);
    }

    [Fact]
    public void BoundedIoU_SmoothL1OfPerCoordinateBounds()
    {
        // pred [0,0,4,2], target [0,0,4,3], eps 1e-3, beta 0.2: dx = 0, dy = 0.5
        const double eps = 1e-3, beta = 0.2;
        double dx = 1 - 4 / (4 + eps);
        double dy = 1 - (3 - 1) / (3 + 1 + eps);
        double dw = 1 - 4 / (4 + eps);
        double dh = 1 - Math.Min(3 / (2 + eps), 2 / (3 + eps));
        static double Smooth(double x) => x < beta ? 0.5 * x * x / beta : x - 0.5 * beta;
        var loss = new BoundedIoULoss(reduction: "none").Forward(Box(0, 0, 4, 2), Box(0, 0, 4, 3));
        Assert.Equal(new[] { 1L, 4L }, loss.shape);
        var got = loss.data<float>().ToArray();
        double[] expected = [Smooth(dx), Smooth(dy), Smooth(dw), Smooth(dh)];
        for (int i = 0; i < 4; i++) Assert.Equal(expected[i], got[i], 5);
        Assert.Equal(10 * expected.Average(), new BoundedIoULoss(lossWeight: 10).Forward(Box(0, 0, 4, 2), Box(0, 0, 4, 3)).item<float>(), 4);
    }

    [Fact]
    public void AllZeroWeights_GiveAZeroLossThatKeepsTheGraph()
    {
        var pred = Box(0, 0, 2, 2).requires_grad_();
        foreach (var loss in new LossBase[] { new DIoULoss(), new CIoULoss(), new BoundedIoULoss() })
        {
            var value = loss.Forward(pred, Box(1, 1, 3, 3), zeros(1, 4));
            Assert.Equal(0f, value.item<float>());
            Assert.True(value.requires_grad);
        }
    }
}
