using System.Text.Json;
using System.Text.RegularExpressions;
using DetSharp.Engine.Checkpoints;
using DetSharp.Engine.Hooks;
using DetSharp.Engine.Runners;
using DetSharp.Logging;
using static TorchSharp.torch;

namespace DetSharp.Tests.Engine;

/// <summary>The runners with a real tiny model: log lines in MMDetection's format, exact resume, the NaN guard, checkpoints.</summary>
public class RunnerTests
{
    [Fact]
    public void Text_and_json_logs_have_mmdetections_format_and_field_order()
    {
        using var dir = new TempDir();
        var logger = new RunLogger(null, null, false);
        var meta = new OrderedDictionary<string, object?> { ["env_info"] = "OS: test", ["config"] = "x = 1", ["seed"] = 7L, ["exp_name"] = "tiny_config.py" };
        var cfg = EngineTestSupport.LoadConfig(dir.Path);
        var runner = EngineTestSupport.MakeRunner(dir.Path, new TinyDetector(), cfg, logger, meta);
        runner.RegisterHook(new EvalHook(_ => new EvalResult(
            [new("bbox_mAP", 0.708), new("bbox_mAP_50", 0.828), new("bbox_mAP_copypaste", "0.708 0.828 0.782 0.202 0.475 0.811")], 13), saveBest: "auto"), HookPriority.Low);

        runner.Run([new TinyBatchSource(count: 4)], [("train", 1)]);

        var trainLines = logger.Messages.Where(m => m.StartsWith("Epoch [", StringComparison.Ordinal)).ToList();
        Assert.Equal(6, trainLines.Count); // 2 per epoch (interval 2, 4 batches), 3 epochs
        Assert.Matches(new Regex(@"^Epoch \[1\]\[2/4\]\tlr: \d\.\d{3}e-\d\d, eta: \d+:\d\d:\d\d, time: \d+\.\d{3}, data_time: \d+\.\d{3}, loss_mse: \d+\.\d{4}, loss_reg: \d+\.\d{4}, acc: \d+\.\d{4}, loss: \d+\.\d{4}$"), trainLines[0]);
        // Warmup: iteration 1 (0-based) of 3 → 0.05 * (1 - (1 - 1/3) * 0.9) = 0.02.
        Assert.StartsWith("Epoch [1][2/4]\tlr: 2.000e-02, ", trainLines[0]);
        Assert.StartsWith("Epoch [3][4/4]\tlr: 5.000e-03, ", trainLines[^1]);
        var valLines = logger.Messages.Where(m => m.StartsWith("Epoch(val)", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, valLines.Count);
        Assert.Equal("Epoch(val) [1][13]\tbbox_mAP: 0.7080, bbox_mAP_50: 0.8280, bbox_mAP_copypaste: 0.708 0.828 0.782 0.202 0.475 0.811", valLines[0]);
        Assert.Contains("Saving checkpoint at 1 epochs", logger.Messages);
        Assert.Contains("Now best checkpoint is saved as best_bbox_mAP_epoch_1.pth.", logger.Messages);
        Assert.Contains("Exp name: tiny_config.py", logger.Messages);

        var jsonLines = File.ReadAllLines(Path.Combine(dir.Path, $"{runner.Timestamp}.log.json"));
        Assert.Equal("{\"env_info\": \"OS: test\", \"config\": \"x = 1\", \"seed\": 7, \"exp_name\": \"tiny_config.py\"}", jsonLines[0]);
        using var train = JsonDocument.Parse(jsonLines[1]);
        Assert.Equal(["mode", "epoch", "iter", "lr", "data_time", "loss_mse", "loss_reg", "acc", "loss", "time"], train.RootElement.EnumerateObject().Select(p => p.Name));
        Assert.Equal("train", train.RootElement.GetProperty("mode").GetString());
        Assert.Equal(0.02, train.RootElement.GetProperty("lr").GetDouble(), 12);
        Assert.Matches(new Regex(@"""loss"": \d+\.\d{1,5}, "), jsonLines[1]);
        var val = jsonLines.Single(l => l.StartsWith("{\"mode\": \"val\", \"epoch\": 1,", StringComparison.Ordinal));
        Assert.StartsWith("{\"mode\": \"val\", \"epoch\": 1, \"iter\": 13, \"lr\": 0.05, \"bbox_mAP\": 0.708, \"bbox_mAP_50\": 0.828, \"bbox_mAP_copypaste\": \"0.708 0.828 0.782 0.202 0.475 0.811\"}", val);
        Assert.True(File.Exists(Path.Combine(dir.Path, "best_bbox_mAP_epoch_1.pth")));
    }

    [Fact]
    public void Resuming_from_a_checkpoint_gives_the_same_losses_as_an_uninterrupted_run()
    {
        using var scope = NewDisposeScope();
        using var dirA = new TempDir();
        using var dirB = new TempDir();
        var recordA = new LossRecorder();
        var runA = EngineTestSupport.MakeRunner(dirA.Path, new TinyDetector(seed: 1), EngineTestSupport.LoadConfig(dirA.Path));
        runA.RegisterHook(recordA, HookPriority.Lowest);
        runA.Run([new TinyBatchSource(count: 4)], [("train", 1)]);

        var modelB = new TinyDetector(seed: 99); // different initial weights: everything must come from the checkpoint
        var recordB = new LossRecorder();
        var runB = EngineTestSupport.MakeRunner(dirB.Path, modelB, EngineTestSupport.LoadConfig(dirB.Path));
        runB.RegisterHook(recordB, HookPriority.Lowest);
        runB.Resume(Path.Combine(dirA.Path, "epoch_2.pth"));
        Assert.Equal(2, runB.Epoch);
        Assert.Equal(8, runB.Iter);
        runB.Run([new TinyBatchSource(count: 4)], [("train", 1)]);

        var expected = recordA.Records.Where(r => r.Epoch == 2).ToList();
        Assert.Equal(4, recordB.Records.Count);
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(expected[i].Iter, recordB.Records[i].Iter);
            Assert.Equal(expected[i].Lr, recordB.Records[i].Lr);
            Assert.Equal(expected[i].Vars, recordB.Records[i].Vars); // bit-identical losses
        }
        var finalA = ((nn.Module)runA.Model).state_dict();
        foreach (var (key, value) in modelB.state_dict())
            Assert.True(value.eq(finalA[key]).all().item<bool>(), key);
    }

    [Fact]
    public void A_nan_loss_stops_training_naming_the_term_and_iteration_and_keeps_the_last_checkpoint()
    {
        using var dir = new TempDir();
        var model = new TinyDetector();
        var runner = EngineTestSupport.MakeRunner(dir.Path, model, EngineTestSupport.LoadConfig(dir.Path));
        runner.RegisterHook(new BeforeIterAction(r => { if (r.Iter == 5) model.LossScale = double.NaN; }));

        var e = Assert.Throws<TrainingDivergedException>(() => runner.Run([new TinyBatchSource(count: 4)], [("train", 1)]));

        Assert.StartsWith("'loss_mse' became NaN at epoch 2, iteration 2 (global iteration 6); training stopped before the update", e.Message);
        Assert.Contains("grad_clip=dict(max_norm=35, norm_type=2)", e.Message);
        using var latest = Checkpoint.Load(Path.Combine(dir.Path, "latest.pth"));
        Assert.Equal(1, latest.Epoch);
        Assert.All(latest.StateDict.Values, t => Assert.False(t.isnan().any().item<bool>()));
        Assert.False(File.Exists(Path.Combine(dir.Path, "epoch_2.pth")));
    }

    [Fact]
    public void Grad_clip_logs_grad_norm_after_the_losses()
    {
        using var dir = new TempDir();
        var cfg = EngineTestSupport.LoadConfig(dir.Path, EngineTestSupport.TinyConfig.Replace("grad_clip=None", "grad_clip=dict(max_norm=0.001, norm_type=2)"));
        var runner = EngineTestSupport.MakeRunner(dir.Path, new TinyDetector(), cfg);

        runner.Run([new TinyBatchSource(count: 2)], [("train", 1)]);

        var line = File.ReadAllLines(Path.Combine(dir.Path, $"{runner.Timestamp}.log.json"))[0];
        using var json = JsonDocument.Parse(line);
        Assert.Equal(["mode", "epoch", "iter", "lr", "data_time", "loss_mse", "loss_reg", "acc", "loss", "grad_norm", "time"], json.RootElement.EnumerateObject().Select(p => p.Name));
        Assert.True(json.RootElement.GetProperty("grad_norm").GetDouble() > 0.001); // the norm before clipping
    }

    [Fact]
    public void Iter_based_runner_saves_iter_checkpoints_and_cycles_the_loader()
    {
        using var dir = new TempDir();
        string text = EngineTestSupport.TinyConfig
            .Replace("runner = dict(type='EpochBasedRunner', max_epochs=3)", "runner = dict(type='IterBasedRunner', max_iters=6)")
            .Replace("checkpoint_config = dict(interval=1)", "checkpoint_config = dict(interval=3, max_keep_ckpts=1)")
            .Replace("step=[2]", "step=[4]");
        var logger = new RunLogger(null, null, false);
        var recorder = new LossRecorder();
        var runner = EngineTestSupport.MakeRunner(dir.Path, new TinyDetector(), EngineTestSupport.LoadConfig(dir.Path, text), logger);
        runner.RegisterHook(recorder, HookPriority.Lowest);

        runner.Run([new TinyBatchSource(count: 4)], [("train", 1)]);

        Assert.Equal(6, runner.Iter);
        Assert.Equal([0, 0, 0, 0, 1, 1], recorder.Records.Select(r => r.Epoch));
        Assert.Equal(0.005, recorder.Records[4].Lr, 12); // step at iteration 4
        Assert.False(File.Exists(Path.Combine(dir.Path, "iter_3.pth"))); // max_keep_ckpts=1
        Assert.True(File.Exists(Path.Combine(dir.Path, "iter_6.pth")));
        Assert.Contains(logger.Messages, m => m.StartsWith("Iter [2/6]\tlr: ", StringComparison.Ordinal));
        using var ckpt = Checkpoint.Load(Path.Combine(dir.Path, "latest.pth"));
        Assert.Equal(6, ckpt.Iter);
    }

    [Fact]
    public void Num_class_check_stops_a_run_whose_head_does_not_match_the_dataset()
    {
        using var dir = new TempDir();
        var runner = EngineTestSupport.MakeRunner(dir.Path, new TinyDetector(numClasses: 80), EngineTestSupport.LoadConfig(dir.Path));

        var e = Assert.Throws<DetSharpException>(() => runner.Run([new TinyBatchSource(classes: ["balloon"])], [("train", 1)]));

        Assert.Contains("The `num_classes` (80) in TinyHead of TinyDetector does not matches the length of `CLASSES` 1) in TinyDataset", e.Message);
    }

    [Fact]
    public void Val_workflow_logs_losses_on_the_val_loader()
    {
        using var dir = new TempDir();
        var logger = new RunLogger(null, null, false);
        var runner = EngineTestSupport.MakeRunner(dir.Path, new TinyDetector(), EngineTestSupport.LoadConfig(dir.Path), logger);

        runner.Run([new TinyBatchSource(count: 2), new TinyBatchSource(count: 3)], [("train", 1), ("val", 1)]);

        Assert.Matches(new Regex(@"^Epoch\(val\) \[1\]\[3\]\tloss_mse: \d+\.\d{4}, loss_reg: \d+\.\d{4}, acc: \d+\.\d{4}, loss: \d+\.\d{4}$"), logger.Messages.First(m => m.StartsWith("Epoch(val)", StringComparison.Ordinal)));
    }
}
