using DetSharp.Logging;
using DetSharp.Registry;
using DetSharp.Utils;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DetSharp.Engine.Runners;

/// <summary>
/// mmcv's <c>EpochBasedRunner</c>: for each epoch of the workflow, <c>before_train_epoch</c>, then per batch
/// <c>before_train_iter</c> → forward + losses → <c>after_train_iter</c> (the optimizer hook steps here) → iter += 1,
/// then <c>after_train_epoch</c> and epoch += 1, until <c>max_epochs</c>.
/// </summary>
[Register(Registries.RunnersName, "EpochBasedRunner")]
public sealed class EpochBasedRunner(ITrainableDetector model, OptimizerHelper? optimizer, string workDir, RunLogger logger,
    OrderedDictionary<string, object?>? meta = null, int? maxEpochs = null, int? maxIters = null)
    : BaseRunner(model, optimizer, workDir, logger, meta, maxEpochs, maxIters)
{
    public override bool ByEpoch => true;

    public override void Run(IReadOnlyList<IBatchSource> loaders, IReadOnlyList<(string Mode, int Count)> workflow)
    {
        CheckWorkflow(loaders, workflow);
        if (MaxEpochs <= 0)
            throw new DetSharpException("runner.max_epochs must be a positive number for EpochBasedRunner.");
        for (int i = 0; i < workflow.Count; i++)
        {
            if (workflow[i].Mode == "train")
            {
                MaxIters = MaxEpochs * loaders[i].Count;
                break;
            }
        }
        LogStart(workflow, $"{MaxEpochs} epochs");
        // Every iteration starts at a point where no libtorch call is in flight: the finalizer gate's safe point.
        using var gate = FinalizerGate.Enter();
        CallBeforeRun();
        while (Epoch < MaxEpochs && !StopRequested)
        {
            for (int i = 0; i < workflow.Count && !StopRequested; i++)
            {
                var (mode, epochs) = workflow[i];
                for (int k = 0; k < epochs && !StopRequested; k++)
                {
                    if (mode == "train" && Epoch >= MaxEpochs) break;
                    if (mode == "train") Train(loaders[i]);
                    else if (mode == "val") Val(loaders[i]);
                    else throw new DetSharpException($"workflow mode '{mode}' is not supported; use 'train' or 'val'.");
                }
            }
        }
        CallAfterRun();
    }

    private void Train(IBatchSource loader)
    {
        Module.train();
        Mode = "train";
        DataLoader = loader;
        MaxIters = MaxEpochs * loader.Count;
        CallHook(h => h.BeforeTrainEpoch(this));
        if (!RunBatches(loader, train: true)) return;
        CallHook(h => h.AfterTrainEpoch(this));
        Epoch++;
    }

    private void Val(IBatchSource loader)
    {
        Module.eval();
        Mode = "val";
        DataLoader = loader;
        CallHook(h => h.BeforeValEpoch(this));
        using (no_grad()) RunBatches(loader, train: false);
        CallHook(h => h.AfterValEpoch(this));
    }

    /// <summary>
    /// One pass over the loader's epoch: per batch the before/after-iter hooks of the mode around the forward (and, in
    /// training, the step the optimizer hook makes). Every iteration starts at a point where no libtorch call is in flight:
    /// the finalizer gate's safe point. False when a hook asked the run to stop (the epoch is then left unfinished).
    /// </summary>
    private bool RunBatches(IBatchSource loader, bool train)
    {
        using var batches = loader.GetEpoch(Epoch).GetEnumerator();
        int start = train ? _resumeBatches : 0;
        if (train) _resumeBatches = 0;
        // Resumed inside an epoch: the batches trained before the stop are drawn (the epoch's order is seeded) and skipped.
        for (int i = 0; i < start; i++)
        {
            using var scope = NewDisposeScope();
            if (!batches.MoveNext()) return true;
            batches.Current.Dispose();
        }
        for (int i = start; ; i++)
        {
            FinalizerGate.SafePoint();
            using var scope = NewDisposeScope();
            bool more;
            using (Profiler.Scope(ProfilerSections.Data)) more = batches.MoveNext();
            if (!more) return true;
            using var batch = batches.Current;
            InnerIter = i;
            CallHook(h => { if (train) h.BeforeTrainIter(this); else h.BeforeValIter(this); });
            RunIter(batch, trainMode: train);
            CallHook(h => { if (train) h.AfterTrainIter(this); else h.AfterValIter(this); });
            Outputs = null;
            if (!train) continue;
            Iter++;
            if (StopRequested) return false;
        }
    }

    /// <summary>The meta key of a checkpoint written inside an epoch: how many of its batches were trained.</summary>
    public const string EpochIterKey = "epoch_iter";

    private int _resumeBatches;

    /// <summary>The meta key beside <see cref="EpochIterKey"/>: the world size whose batches it counts (absent: one process).</summary>
    public const string WorldSizeKey = "world_size";

    /// <summary>
    /// Stopped inside an epoch: <c>epoch</c> counts the finished epochs, <see cref="EpochIterKey"/> the batches done in this
    /// one, <see cref="WorldSizeKey"/> the number of ranks that drew them.
    /// </summary>
    public override string SaveResumeCheckpoint(string outDir, IEnumerable<KeyValuePair<string, object?>>? meta = null) =>
        WriteCheckpoint(outDir, $"iter_{Iter}.pth", saveOptimizer: true,
            (meta ?? []).Append(new(EpochIterKey, (long)(InnerIter + 1))).Append(new(WorldSizeKey, (long)ProcessGroup.WorldSize)),
            createSymlink: true, Epoch, Iter);

    protected override void OnResumed(Checkpoints.LoadedCheckpoint checkpoint)
    {
        var meta = checkpoint.Meta;
        int done = meta?.GetOrNull(EpochIterKey) is long n ? (int)n : 0;
        int savedWorld = meta?.GetOrNull(WorldSizeKey) is long w ? (int)w : 1;
        _resumeBatches = BatchesToSkip(done, savedWorld, ProcessGroup.WorldSize);
        if (done > 0 && _resumeBatches == 0)
        {
            Logger.Warning($"the checkpoint stopped after {done} batches of epoch {Epoch + 1} on {savedWorld} rank(s); on {ProcessGroup.WorldSize} the "
                + $"epoch is shared out otherwise, so epoch {Epoch + 1} restarts from its first batch (as mmcv's resume), iteration count {Iter} kept.");
        }
        // The count belongs to that checkpoint only: the run's later checkpoints end whole epochs.
        Meta.Remove(EpochIterKey);
        Meta.Remove(WorldSizeKey);
    }

    /// <summary>
    /// The batches of the resumed epoch to skip: those the checkpoint counted when it was written by as many ranks as resume
    /// it (each rank's share and batches are then the same). At another world size the ranks' shares of the epoch are other
    /// images, so no count of batches names the images already seen: the epoch restarts, as mmcv's runner resumes every
    /// checkpoint (its samplers start the epoch again), while epoch and iteration keep the checkpoint's values.
    /// </summary>
    public static int BatchesToSkip(int batchesDone, int savedWorldSize, int worldSize) => savedWorldSize == worldSize ? batchesDone : 0;

    public override string SaveCheckpoint(string outDir, string? filenameTmpl = null, bool saveOptimizer = true,
        IEnumerable<KeyValuePair<string, object?>>? meta = null, bool createSymlink = true)
    {
        string filename = (filenameTmpl ?? "epoch_{}.pth").Replace("{}", (Epoch + 1).ToString(System.Globalization.CultureInfo.InvariantCulture));
        return WriteCheckpoint(outDir, filename, saveOptimizer, meta, createSymlink, Epoch + 1, Iter);
    }
}
