using DetSharp.Apis;
using DetSharp.Engine.Checkpoints;
using DetSharp.Engine.Hooks;
using DetSharp.Tests.Engine.Hooks;
using DetSharp.TestSupport;

namespace DetSharp.Tests.Engine;

/// <summary>
/// MMDetection's <c>configs/yolox/yolox_s_8x8_300e_coco.py</c> (from <c>../shared/mmdet-configs-2.28</c>) through
/// <c>train_detector</c> with a tiny model and loader in place of YOLOX and COCO: every training key and hook is accepted,
/// the hooks run in MMDetection's order, and a short run trains with the EMA weights checkpointed.
/// </summary>
public class YOLOXTrainingConfigTests
{
    private const string Config = "mmdet-configs-2.28/yolox/yolox_s_8x8_300e_coco.py";

    private static TrainComponents Tiny(SkipTypeKeysSource source) => new()
    {
        BuildModel = _ => new L1SwitchDetector(),
        BuildLoader = (_, _, _, _) => source,
        BuildEvaluator = (_, _) => _ => new EvalResult([new("bbox_mAP", 0.5), new("bbox_mAP_copypaste", "0.500 0.600 0.700 0.100 0.200 0.300")], 2),
    };

    [SharedFact(Config)]
    public void Yolox_s_training_config_is_accepted_and_its_hooks_run_in_mmdetections_order()
    {
        using var dir = new TempDir();
        var cfg = DetSharp.Config.Config.FromFile(SharedData.FullPath(Config));
        // A 4-epoch run in the recipe's shape: 2 warm-up epochs, num_last_epochs=2 (Mosaic/MixUp off and L1 on from epoch
        // 4 − 2 = 2, 1-based, as MMDetection counts), evaluation every 2 epochs and every epoch from epoch 3; the other
        // settings are the config's own.
        cfg.MergeFromOptions(["runner.max_epochs=4", "lr_config.warmup_iters=2", "lr_config.num_last_epochs=2", "checkpoint_config.interval=2",
            "evaluation.interval=2", "evaluation.dynamic_intervals=[(3, 1)]", "custom_hooks.0.num_last_epochs=2", "custom_hooks.1.num_last_epochs=2"]);
        var source = new SkipTypeKeysSource(count: 2);
        string workDir = Path.Combine(dir.Path, "work");

        var (runner, loaders, workflow) = TrainDetector.Prepare(cfg, new TrainOptions { WorkDir = workDir }, Tiny(source));

        Assert.Equal(["YOLOXLrUpdaterHook", "OptimizerHook", "YOLOXModeSwitchHook", "SyncNormHook", "ExpMomentumEMAHook", "CheckpointHook",
            "IterTimerHook", "EvalHook", "TextLoggerHook"], runner.Hooks.Select(h => h.GetType().Name));
        runner.Run(loaders, workflow);
        runner.Logger.Dispose();

        var update = Assert.Single(source.Updates);
        Assert.Equal(1, update.BeforeEpoch);
        Assert.Equal(["Mosaic", "RandomAffine", "MixUp"], update.Keys);
        string log = File.ReadAllText(Directory.GetFiles(workDir, "*.log").Single());
        Assert.Equal(3, log.Split("Epoch(val) [").Length - 1); // epochs 2, 3 and 4
        using var last = Checkpoint.Load(Path.Combine(workDir, "latest.pth"));
        Assert.Equal(4, last.Epoch);
        Assert.Contains("ema_detector_conv1_weight", last.StateDict.Keys);
        Assert.True(File.Exists(Path.Combine(workDir, "best_bbox_mAP_epoch_2.pth")));
    }
}
