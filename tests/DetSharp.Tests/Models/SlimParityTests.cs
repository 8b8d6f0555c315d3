using DetSharp.Core.Tests.Parity;
using Xunit.Abstractions;

namespace DetSharp.Tests.Models;

/// <summary>
/// Inference parity with MMDetection 2.25 on the slim Mask R-CNN and Cascade Mask R-CNN checkpoints
/// (fixtures/mmdet/parity): network input, RPN proposals, per-stage RoI logits/deltas and refined RoIs, final
/// boxes/scores and masks for 3 balloon val images (see <see cref="SlimModelParity.MeasureTest(DetSharp.Models.Detectors.TwoStageDetector, string, System.Text.Json.JsonElement)"/>).
/// </summary>
public sealed class SlimParityTests(ITestOutputHelper output)
{
    [SharedTheory(SlimModelParity.Dir + "mask_rcnn_slim.pth")]
    [InlineData("mask_rcnn")]
    [InlineData("cascade_mask_rcnn")]
    public void Inference_MatchesMmdet(string name)
    {
        using var fixture = SlimModelParity.Outputs(name);
        using var model = SlimModelParity.LoadSlim(name);
        model.eval();
        var rows = fixture.RootElement.GetProperty("test").EnumerateArray().SelectMany(rec => SlimModelParity.MeasureTest(model, name, rec)).ToList();
        foreach (var line in ParityTable.Lines(rows)) output.WriteLine(line);
        ParityAssert.AllPass(rows);
    }
}
