using DetSharp.Config;
using DetSharp.Engine;
using DetSharp.Engine.Checkpoints;
using DetSharp.Engine.Optimizers;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace DetSharp.Tests.Engine.Checkpoints;

/// <summary>mmcv-layout checkpoints: round trip of meta, weights and momentum; atomic replacement; load_from with a changed head.</summary>
public class CheckpointTests
{
    private static OptimizerHelper TrainedSgd(TinyDetector model)
    {
        var cfg = PyConfigParser.Evaluate("x = dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001)\n", "cfg.py").Get<ConfigDict>("x");
        var optimizer = OptimizerBuilder.Build(model, cfg);
        var source = new TinyBatchSource(count: 2);
        foreach (var batch in source.GetEpoch(0))
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            LossParser.Parse(model.ForwardTrain(batch)).Loss.backward();
            optimizer.step();
            batch.Dispose();
        }
        return optimizer;
    }

    [Fact]
    public void Meta_weights_and_optimizer_momentum_round_trip()
    {
        using var dir = new TempDir();
        var model = new TinyDetector();
        var optimizer = TrainedSgd(model);
        string path = Path.Combine(dir.Path, "epoch_1.pth");
        Checkpoint.Save(path, model, optimizer, [new("CLASSES", PyTuple.Of("a", "b")), new("config", "x = 1"), new("epoch", 1L), new("iter", 2L)]);

        // tools/check_pth_with_python.sh sets this to load the file with Python's torch.load.
        if (Environment.GetEnvironmentVariable("DETSHARP_PTH_OUT") is { Length: > 0 } copyTo) File.Copy(path, copyTo, overwrite: true);
        using var ckpt = Checkpoint.Load(path);

        Assert.Equal(["a", "b"], ckpt.Classes);
        Assert.Equal(1, ckpt.Epoch);
        Assert.Equal(2, ckpt.Iter);
        Assert.Equal("x = 1", ckpt.Meta!["config"]);
        var weights = model.state_dict();
        Assert.Equal(weights.Keys.Order(), ckpt.StateDict.Keys.Order());
        foreach (var (key, value) in weights) Assert.True(value.eq(ckpt.StateDict[key]).all().item<bool>(), key);

        var fresh = new TinyDetector(seed: 5);
        var freshOptimizer = OptimizerBuilder.Build(fresh, PyConfigParser.Evaluate("x = dict(type='SGD', lr=0.5, momentum=0.9)\n", "cfg.py").Get<ConfigDict>("x"));
        Checkpoint.LoadStateDict(fresh, ckpt.StateDict, strict: true);
        OptimizerStateDict.Load(freshOptimizer, ckpt.Optimizer, path);
        var saved = optimizer.state_dict().State.Cast<SGD.State>().ToList();
        var restored = freshOptimizer.state_dict().State.Cast<SGD.State>().ToList();
        Assert.Equal(saved.Count, restored.Count);
        int withMomentum = 0;
        for (int i = 0; i < saved.Count; i++)
        {
            // The head is not in the toy forward pass: no gradient, no momentum buffer (and none restored).
            Assert.Equal(saved[i].momentum_buffer is null, restored[i].momentum_buffer is null);
            if (saved[i].momentum_buffer is null) continue;
            withMomentum++;
            Assert.True(saved[i].momentum_buffer.eq(restored[i].momentum_buffer).all().item<bool>());
        }
        Assert.Equal(saved.Count - 2, withMomentum);
        var group = freshOptimizer.ParamGroups.Cast<SGD.ParamGroup>().Single();
        Assert.Equal(0.02, group.LearningRate);
        Assert.Equal(0.02, group.InitialLearningRate);
        Assert.Equal(0.0001, group.Options.weight_decay);
    }

    [Fact]
    public void A_failed_write_leaves_the_previous_latest_checkpoint_intact()
    {
        using var dir = new TempDir();
        var model = new TinyDetector();
        Checkpoint.Save(Path.Combine(dir.Path, "epoch_1.pth"), model, null, [new("epoch", 1L), new("iter", 4L)]);
        Checkpoint.UpdateLatest(dir.Path, "epoch_1.pth");
        long sizeBefore = new FileInfo(Path.Combine(dir.Path, "epoch_1.pth")).Length;

        // Second save dies half-way (an unpicklable meta value), replacing the same file name as a crash would.
        Assert.ThrowsAny<Exception>(() => Checkpoint.Save(Path.Combine(dir.Path, "epoch_1.pth"), model, null, [new("epoch", 2L), new("bad", new object())]));
        Assert.Throws<IOException>(() => Checkpoint.WriteAtomically(Path.Combine(dir.Path, "latest.pth"), s =>
        {
            s.Write(new byte[100]);
            throw new IOException("disk full");
        }));

        Assert.Equal(sizeBefore, new FileInfo(Path.Combine(dir.Path, "epoch_1.pth")).Length);
        using var latest = Checkpoint.Load(Path.Combine(dir.Path, "latest.pth"));
        Assert.Equal(1, latest.Epoch);
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp"));
        Assert.Equal(["epoch_1.pth", "latest.pth"], Directory.GetFiles(dir.Path).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void Load_from_skips_a_head_of_another_size_and_reports_it_like_mmcv()
    {
        using var dir = new TempDir();
        var coco = new TinyDetector(numClasses: 80, seed: 3);
        string path = Path.Combine(dir.Path, "coco.pth");
        Checkpoint.Save(path, coco, null, []);
        var balloon = new TinyDetector(numClasses: 1, seed: 4);
        var headBefore = balloon.head.fc_cls.weight!.clone();

        using var ckpt = Checkpoint.Load(path);
        var report = Checkpoint.LoadStateDict(balloon, ckpt.StateDict);

        Assert.Equal(["head.fc_cls.weight", "head.fc_cls.bias"], report.SizeMismatches.Select(m => m.Split(' ')[3].TrimEnd(':')));
        Assert.Contains("size mismatch for head.fc_cls.weight: copying a param with shape torch.Size([80, 2]) from checkpoint, the shape in current model is torch.Size([1, 2]).", report.Message);
        Assert.StartsWith("The model and loaded state dict do not match exactly\n", report.Message);
        Assert.True(balloon.head.fc_cls.weight!.eq(headBefore).all().item<bool>());
        Assert.True(balloon.conv1.weight!.eq(coco.conv1.weight!).all().item<bool>());
        Assert.Throws<DetSharpException>(() => Checkpoint.LoadStateDict(balloon, ckpt.StateDict, strict: true));
    }

    [Fact]
    public void Missing_and_unexpected_keys_are_listed_and_module_prefix_is_stripped()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "dp.pth");
        var weights = new PyDict(isOrderedDict: true) { ["module.conv1.weight"] = zeros(4, 3, 3, 3), ["module.extra.weight"] = zeros(1) };
        using (var f = File.Create(path)) TorchSerialization.Save(new PyDict { ["state_dict"] = weights }, f);

        using var ckpt = Checkpoint.Load(path);
        var report = Checkpoint.LoadStateDict(new TinyDetector(), ckpt.StateDict);

        Assert.Equal(["conv1.weight"], report.Loaded);
        Assert.Equal(["extra.weight"], report.UnexpectedKeys);
        Assert.Contains("conv1.bias", report.MissingKeys);
        Assert.DoesNotContain(report.MissingKeys, k => k.Contains("num_batches_tracked"));
    }

    [Fact]
    public void State_dicts_interoperate_with_TorchSharp_PyBridge()
    {
        using var dir = new TempDir();
        var model = new TinyDetector(seed: 11);
        string ours = Path.Combine(dir.Path, "ours.pth");
        string theirs = Path.Combine(dir.Path, "pybridge.pth");
        using (var f = File.Create(ours))
        {
            var sd = new PyDict(isOrderedDict: true);
            foreach (var (k, v) in model.state_dict()) sd[k] = v;
            TorchSerialization.Save(sd, f);
        }
        model.save_py(theirs);

        var viaPyBridge = new TinyDetector(seed: 12);
        viaPyBridge.load_py(ours);
        using var viaUs = Checkpoint.Load(theirs);

        foreach (var (key, value) in model.state_dict())
        {
            Assert.True(value.eq(viaPyBridge.state_dict()[key]).all().item<bool>(), key);
            Assert.True(value.eq(viaUs.StateDict[key]).all().item<bool>(), key);
        }
    }
}
