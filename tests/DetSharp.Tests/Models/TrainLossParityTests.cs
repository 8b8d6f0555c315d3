using DetSharp.Core.Tests.Parity;
using Xunit.Abstractions;

namespace DetSharp.Tests.Models;

/// <summary>
/// Training-loss parity with MMDetection 2.25: the slim models on the first 2 balloon train images, with every
/// sampler taking all candidates (num = 1e8), give the fixture's <c>log_vars</c> (relative 1e-4) and per-level RPN losses
/// (see <see cref="SlimModelParity.MeasureTrain"/>).
/// </summary>
public sealed class TrainLossParityTests(ITestOutputHelper output)
{
    [SharedTheory(SlimModelParity.Dir + "mask_rcnn_slim.pth")]
    [InlineData("mask_rcnn")]
    [InlineData("cascade_mask_rcnn")]
    public void TrainLosses_MatchMmdet(string name)
    {
        var (rows, log) = SlimModelParity.MeasureTrain(name);
        foreach (var (key, value) in log) output.WriteLine($"{key}: {value:G9}");
        ParityAssert.AllPass(rows);
    }
}
