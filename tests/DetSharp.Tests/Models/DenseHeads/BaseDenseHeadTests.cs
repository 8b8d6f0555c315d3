using DetSharp.Models.DenseHeads;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.DenseHeads;

/// <summary>mmdet's <c>filter_scores_and_topk</c>, worked by hand.</summary>
public sealed class BaseDenseHeadTests
{
    // 3 positions × 2 classes
    private static Tensor Scores() => tensor(new float[] { 0.9f, 0.02f, 0.3f, 0.6f, 0.04f, 0.7f }).reshape(3, 2);

    [Fact]
    public void FilterScoresAndTopk_KeepsTheBestPairsAboveTheThreshold()
    {
        var (scores, labels, keep) = BaseDenseHead.FilterScoresAndTopk(Scores(), 0.05, 3);
        // Above 0.05: (0,0)=0.9, (1,0)=0.3, (1,1)=0.6, (2,1)=0.7 → best three: 0.9, 0.7, 0.6.
        Assert.Equal([0.9f, 0.7f, 0.6f], scores.data<float>().ToArray());
        Assert.Equal([0L, 1L, 1L], labels.data<long>().ToArray());
        Assert.Equal([0L, 2L, 1L], keep.data<long>().ToArray());
    }

    [Fact]
    public void FilterScoresAndTopk_NmsPreMinusOne_DropsTheLastCandidate_AsMmdetsSliceDoes()
    {
        var (scores, _, _) = BaseDenseHead.FilterScoresAndTopk(Scores(), 0.05, -1);
        Assert.Equal([0.9f, 0.7f, 0.6f], scores.data<float>().ToArray());
    }
}
