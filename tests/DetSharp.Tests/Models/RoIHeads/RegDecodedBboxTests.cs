using DetSharp.Config;
using DetSharp.Models.RoIHeads;
using DetSharp.Models.TaskModules;
using DetSharp.Registry;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.RoIHeads;

/// <summary><c>reg_decoded_bbox=True</c> in the R-CNN bbox head: GT boxes as targets, the loss on decoded boxes (by hand).</summary>
public sealed class RegDecodedBboxTests
{
    private static ConvFCBBoxHead Head(string loss) => Registries.Models.Build<ConvFCBBoxHead>(new ConfigDict
    {
        ["type"] = "Shared2FCBBoxHead", ["in_channels"] = 4L, ["fc_out_channels"] = 8L, ["roi_feat_size"] = 2L, ["num_classes"] = 2L,
        ["reg_decoded_bbox"] = true, ["loss_bbox"] = new ConfigDict { ["type"] = loss, ["loss_weight"] = 10.0 },
    });

    [Fact]
    public void Targets_AreTheGtBoxes_AndTheLossComparesDecodedBoxes()
    {
        ComponentRegistration.EnsureRegistered();
        using var head = Head("GIoULoss");
        Assert.True(head.RegDecodedBbox);
        // proposal 0 [0,0,2,2] matches GT [1,1,3,3] (label 1); proposal 1 is a negative
        var bboxes = tensor(new float[] { 0, 0, 2, 2, 5, 5, 6, 6 }).view(2, 4);
        var gt = tensor(new float[] { 1, 1, 3, 3 }).view(1, 4);
        var assign = new AssignResult(1, tensor(new long[] { 1, 0 }), tensor(new float[] { 1f / 7, 0 }), tensor(new long[] { 1, -1 }));
        var sampling = new SamplingResult(tensor(new long[] { 0 }), tensor(new long[] { 1 }), bboxes, gt, assign, zeros(2, ScalarType.Byte));
        var targets = head.GetTargets([sampling], new ConfigDict { ["pos_weight"] = -1L });
        Assert.Equal(new float[] { 1, 1, 3, 3, 0, 0, 0, 0 }, targets.BboxTargets.reshape(-1).data<float>().ToArray());

        // zero deltas decode to the proposal itself: GIoU([0,0,2,2], [1,1,3,3]) = 1/7 − 2/9, averaged over the 2 RoIs
        var rois = cat([zeros(2, 1), bboxes], 1);
        var losses = head.Loss(zeros(2, 3), zeros(2, 8), rois, targets);
        Assert.Equal(10 * (1 - (1.0 / 7 - 2.0 / 9)) / 2, losses["loss_bbox"][0].item<float>(), 4);
    }

    [Theory]
    [InlineData("IoULoss")]
    [InlineData("CIoULoss")]
    [InlineData("DIoULoss")]
    [InlineData("BoundedIoULoss")]
    public void DecodedBoxLosses_AreZeroWhenTheDecodedBoxIsTheGt(string loss)
    {
        ComponentRegistration.EnsureRegistered();
        using var head = Head(loss);
        var rois = tensor(new float[] { 0, 1, 1, 3, 3 }).view(1, 5);
        var targets = new BBoxTargets(tensor(new long[] { 0 }), ones(1), tensor(new float[] { 1, 1, 3, 3 }).view(1, 4), ones(1, 4));
        var value = head.Loss(zeros(1, 3), zeros(1, 8), rois, targets)["loss_bbox"][0].item<float>();
        Assert.True(Math.Abs(value) < 1e-3, $"{loss}: {value}");
    }
}
