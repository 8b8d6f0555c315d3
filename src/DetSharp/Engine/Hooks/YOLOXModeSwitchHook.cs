using DetSharp.Datasets;
using DetSharp.Engine.Runners;
using DetSharp.Registry;

namespace DetSharp.Engine.Hooks;

/// <summary>
/// MMDetection's <c>YOLOXModeSwitchHook</c>: before epoch <c>max_epochs − num_last_epochs + 1</c> (1-based) the training
/// dataset stops running the <c>skip_type_keys</c> transforms (Mosaic, RandomAffine, MixUp) and the model's
/// <c>bbox_head</c> adds its L1 loss. DetSharp's loader starts its workers afresh every epoch, so the change reaches them
/// without MMDetection's persistent-worker restart. Unlike MMDetection 2.28, which switches only at that exact epoch, a
/// run resumed later in the last epochs switches at its first epoch too (so it goes on as the uninterrupted run would),
/// and a dataset or head that cannot switch is reported at the first epoch, not after hundreds.
/// </summary>
[Register(Registries.HooksName, "YOLOXModeSwitchHook")]
public sealed class YOLOXModeSwitchHook(int numLastEpochs = 15, IReadOnlyList<string>? skipTypeKeys = null) : Hook
{
    private bool _switched;

    public int NumLastEpochs { get; } = numLastEpochs;

    public IReadOnlyList<string> SkipTypeKeys { get; } = skipTypeKeys ?? ["Mosaic", "RandomAffine", "MixUp"];

    public override void BeforeTrainEpoch(BaseRunner runner)
    {
        var dataset = SwitchableDataset(runner);
        var head = L1Switch(runner);
        if (_switched || runner.Epoch + 1 < runner.MaxEpochs - NumLastEpochs) return;
        runner.Logger.Info("No mosaic and mixup aug now!");
        dataset.UpdateSkipTypeKeys(SkipTypeKeys);
        runner.Logger.Info("Add additional L1 loss now!");
        head.UseL1 = true;
        _switched = true;
    }

    /// <summary>MMDetection's <c>runner.data_loader.dataset</c>, which must be able to skip transforms (a MultiImageMixDataset).</summary>
    private static ISkipTypeKeysDataset SwitchableDataset(BaseRunner runner) => runner.DataLoader switch
    {
        ISkipTypeKeysDataset source => source,
        DetBatchSource { Dataset: ISkipTypeKeysDataset dataset } => dataset,
        var other => throw new DetSharpException(
            $"YOLOXModeSwitchHook turns Mosaic/MixUp off through the training dataset, but {other?.DatasetName ?? "no dataset"} cannot skip transforms; "
            + "wrap data.train in dict(type='MultiImageMixDataset', dataset=..., pipeline=[...]) as configs/yolox do, or remove the hook from custom_hooks."),
    };

    /// <summary>MMDetection's <c>model.bbox_head</c>, which must have an L1 switch (YOLOXHead's <c>use_l1</c>).</summary>
    private static IAuxiliaryL1Switch L1Switch(BaseRunner runner) =>
        runner.Module.named_children().FirstOrDefault(c => c.name == "bbox_head").module as IAuxiliaryL1Switch
        ?? throw new DetSharpException(
            $"YOLOXModeSwitchHook switches on the L1 loss of model.bbox_head, but {runner.Module.GetType().Name} has no bbox_head with an L1 switch "
            + "(YOLOXHead's use_l1); use it with the YOLOX detector or remove the hook from custom_hooks.");
}
