using DetSharp.Core.Tests.Parity;

namespace DetSharp.Core.Tests.Datasets;

/// <summary>
/// Each deterministic transform on a balloon image against MMDetection 2.25 / mmcv 1.7 outputs (fixtures/mmdet/transforms):
/// image shape, dtype, channel sums, sampled pixels, boxes, labels, masks and meta fields (see <see cref="TransformParity"/>).
/// </summary>
public class TransformFixtureTests
{
    public static IEnumerable<object[]> Cases(string file)
    {
        if (!SharedData.Present) return [["none"]];
        return TransformParity.CaseNames(file).Select(name => new object[] { name }).ToList();
    }

    public static IEnumerable<object[]> Image0Cases() => Cases("balloon_train_image0_transforms.json");
    public static IEnumerable<object[]> Image4Cases() => Cases("balloon_train_transforms.json");

    [SharedTheory]
    [MemberData(nameof(Image0Cases))]
    public void Image0_case_matches_mmdetection(string name) =>
        ParityAssert.AllPass(TransformParity.Measure("balloon_train_image0_transforms.json", name));

    [SharedTheory]
    [MemberData(nameof(Image4Cases))]
    public void Image4_case_matches_mmdetection(string name) =>
        ParityAssert.AllPass(TransformParity.Measure("balloon_train_transforms.json", name));
}
