using DetSharp.Engine.Runners;
using DetSharp.Registry;

namespace DetSharp.Engine.Hooks;

/// <summary>
/// MMDetection's <c>SyncRandomSizeHook</c>, deprecated in 2.28: it warns with MMDetection's message and changes nothing.
/// In 2.28 the multi-scale training it stood for is done by the YOLOX detector (<c>random_size_range</c>,
/// <c>random_size_interval</c>: every few iterations the batch is resized to a random multiple of 32), and no 2.28 dataset
/// has the <c>update_dynamic_scale</c> the hook would call (MultiImageMixDataset refuses <c>dynamic_scale</c>).
/// </summary>
[Register(Registries.HooksName, "SyncRandomSizeHook")]
public sealed class SyncRandomSizeHook : Hook
{
    /// <summary>MMDetection's DeprecationWarning, word for word.</summary>
    public const string DeprecationMessage =
        "DeprecationWarning: SyncRandomSizeHook is deprecated. Please use Resize pipeline to achieve similar functions. "
        + "Due to the multi-process dataloader, its behavior is different from YOLOX's official implementation, the official is "
        + "to change the size every fixed iteration interval and what we achieved is a fixed epoch interval.";

    public SyncRandomSizeHook(IReadOnlyList<int>? ratioRange = null, IReadOnlyList<int>? imgScale = null, int interval = 1, string device = "cuda")
    {
        RatioRange = ratioRange ?? [14, 26];
        ImgScale = imgScale ?? [640, 640];
        if (RatioRange.Count != 2 || ImgScale.Count != 2)
            throw new DetSharpException("SyncRandomSizeHook: ratio_range and img_scale must be pairs, e.g. ratio_range=(14, 26), img_scale=(640, 640).");
        Interval = interval;
        Device = device;
    }

    public IReadOnlyList<int> RatioRange { get; }

    public IReadOnlyList<int> ImgScale { get; }

    public int Interval { get; }

    public string Device { get; }

    public override void BeforeRun(BaseRunner runner) => runner.Logger.Warning(DeprecationMessage);
}
