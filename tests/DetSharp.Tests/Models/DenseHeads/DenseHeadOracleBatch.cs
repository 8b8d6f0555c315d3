using DetSharp.Config;
using DetSharp.Models;
using DetSharp.Models.DenseHeads;
using DetSharp.Registry;
using DetSharp.Tests.TestSupport;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models.DenseHeads;

/// <summary>
/// The fixed batch of <c>tools/oracle/_dense_batch.py</c> (two 64×64 images, given logits and deltas on two levels, GT
/// boxes and labels) and the slim head of the family's <c>head_config.py</c>, as the oracle fixtures store them.
/// </summary>
internal static class DenseHeadOracleBatch
{
    public static T BuildHead<T>(OracleFixture fx) where T : BaseDenseHead
    {
        ComponentRegistration.EnsureRegistered();
        var cfg = Config.Config.FromFile(Path.Combine(fx.Folder, "head_config.py")).Get<ConfigDict>("head");
        return Registries.Models.Build<T>(cfg);
    }

    public static (DenseHeadOutputs Outs, Tensor[] GtBboxes, Tensor[] GtLabels, ImgMeta[] Metas) Load(OracleFixture fx) =>
        (new DenseHeadOutputs(fx.Floats("cls_scores"), fx.Floats("bbox_preds")), fx.Floats("gt_bboxes"), fx.Longs("gt_labels"),
            [ImgMeta.Unscaled(64, 64), ImgMeta.Unscaled(64, 64)]);
}
