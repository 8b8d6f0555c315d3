namespace DetSharp.Datasets;

/// <summary>
/// A dataset whose pipeline can skip transforms by type name (MMDetection's <c>MultiImageMixDataset.update_skip_type_keys</c>):
/// <see cref="UpdateSkipTypeKeys"/> takes effect from the next item it makes. YOLOXModeSwitchHook turns Mosaic, RandomAffine
/// and MixUp off through it for the last epochs.
/// </summary>
public interface ISkipTypeKeysDataset
{
    void UpdateSkipTypeKeys(IReadOnlyList<string> skipTypeKeys);
}
