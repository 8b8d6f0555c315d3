using DetSharp.Datasets;
using DetSharp.Engine.Runners;
using DetSharp.Registry;

namespace DetSharp.Engine.Hooks;

/// <summary>MMDetection's <c>NumClassCheckHook</c>: before each train/val epoch, heads' num_classes must match the dataset's CLASSES.</summary>
[Register(Registries.HooksName, "NumClassCheckHook")]
public sealed class NumClassCheckHook : Hook
{
    public override void BeforeTrainEpoch(BaseRunner runner) => CheckHeads(runner);

    public override void BeforeValEpoch(BaseRunner runner) => CheckHeads(runner);

    private static void CheckHeads(BaseRunner runner)
    {
        var loader = runner.DataLoader;
        if (loader is null) return;
        var heads = runner.Module.named_modules()
            .Where(m => m.module is IHasNumClasses { IsClassAgnostic: false })
            .Select(m => new HeadClassCount(m.name, m.module.GetType().Name, ((IHasNumClasses)m.module).NumClasses));
        if (runner.Module is IHasNumClasses { IsClassAgnostic: false } root)
            heads = heads.Prepend(new HeadClassCount("", runner.Module.GetType().Name, root.NumClasses));
        var warning = NumClassCheck.Check(loader.Classes, heads, loader.DatasetName, runner.Module.GetType().Name);
        if (warning is not null) runner.Logger.Warning(warning);
    }
}
