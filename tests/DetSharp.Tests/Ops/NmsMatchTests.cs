using DetSharp.Ops;
using static TorchSharp.torch;

namespace DetSharp.Tests.Ops;

/// <summary>mmcv's nms_match worked by hand.</summary>
public sealed class NmsMatchTests
{
    [Fact]
    public void EachKeptBoxHeadsTheGroupItSuppresses_InScoreOrder()
    {
        // 0 [0,0,10,10] s .9; 1 [1,0,11,10] s .5 (IoU 9/11 with 0); 2 [20,20,30,30] s .8; 3 [0,1,10,11] s .7 (IoU 9/11 with 0);
        // 4 [21,20,31,30] s .3 (IoU 9/11 with 2). Threshold 0.5: {0, 3, 1}, {2, 4}
        var dets = tensor(new float[]
        {
            0, 0, 10, 10, 0.9f, 1, 0, 11, 10, 0.5f, 20, 20, 30, 30, 0.8f, 0, 1, 10, 11, 0.7f, 21, 20, 31, 30, 0.3f,
        }).view(5, 5);
        var groups = NmsMatch.Groups(dets, 0.5);
        Assert.Equal(2, groups.Count);
        Assert.Equal(new long[] { 0, 3, 1 }, groups[0]);
        Assert.Equal(new long[] { 2, 4 }, groups[1]);
        // above 9/11 nothing is suppressed: one group per box, by score
        Assert.Equal(new long[] { 0, 2, 3, 1, 4 }, NmsMatch.Groups(dets, 0.9).Select(g => Assert.Single(g)).ToArray());
    }
}
