using DetSharp.Engine.Checkpoints;
using DetSharp.Logging;
using DetSharp.Registry;
using DetSharp.Utils;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DetSharp.Engine.Runners;

/// <summary>
/// mmcv's <c>IterBasedRunner</c>: loaders are cycled endlessly (a new epoch of the loader starts when one is used up)
/// and training runs <c>max_iters</c> iterations; <c>before_epoch</c>/<c>after_epoch</c> are called once around the run.
/// </summary>
[Register(Registries.RunnersName, "IterBasedRunner")]
public sealed class IterBasedRunner(ITrainableDetector model, OptimizerHelper? optimizer, string workDir, RunLogger logger,
    OrderedDictionary<string, object?>? meta = null, int? maxEpochs = null, int? maxIters = null)
    : BaseRunner(model, optimizer, workDir, logger, meta, maxEpochs, maxIters)
{
    public override bool ByEpoch => false;

    public override void Run(IReadOnlyList<IBatchSource> loaders, IReadOnlyList<(string Mode, int Count)> workflow)
    {
        CheckWorkflow(loaders, workflow);
        if (MaxIters <= 0)
            throw new DetSharpException("runner.max_iters must be a positive number for IterBasedRunner.");
        LogStart(workflow, $"{MaxIters} iters");
        // Every iteration starts at a point where no libtorch call is in flight: the finalizer gate's safe point.
        using var gate = FinalizerGate.Enter();
        CallBeforeRun();
        var iterLoaders = loaders.Select(l => new IterLoader(l, Epoch)).ToList();
        try
        {
            CallHook(h => h.BeforeEpoch(this));
            while (Iter < MaxIters && !StopRequested)
            {
                for (int i = 0; i < workflow.Count && !StopRequested; i++)
                {
                    InnerIter = 0;
                    var (mode, iters) = workflow[i];
                    for (int k = 0; k < iters && !StopRequested; k++)
                    {
                        if (mode == "train" && Iter >= MaxIters) break;
                        if (mode == "train") Train(iterLoaders[i]);
                        else if (mode == "val") Val(iterLoaders[i]);
                        else throw new DetSharpException($"workflow mode '{mode}' is not supported; use 'train' or 'val'.");
                    }
                }
            }
            if (!StopRequested) CallHook(h => h.AfterEpoch(this));
        }
        finally
        {
            foreach (var l in iterLoaders) l.Dispose();
        }
        CallAfterRun();
    }

    private void Train(IterLoader loader)
    {
        Module.train();
        Mode = "train";
        DataLoader = loader.Source;
        FinalizerGate.SafePoint();
        using var scope = NewDisposeScope();
        using var batch = NextBatch(loader);
        Epoch = loader.Epoch;
        CallHook(h => h.BeforeTrainIter(this));
        RunIter(batch, trainMode: true);
        CallHook(h => h.AfterTrainIter(this));
        Outputs = null;
        InnerIter++;
        Iter++;
    }

    private static IDataBatch NextBatch(IterLoader loader)
    {
        using var timed = Profiler.Scope(ProfilerSections.Data);
        return loader.Next();
    }

    private void Val(IterLoader loader)
    {
        Module.eval();
        Mode = "val";
        DataLoader = loader.Source;
        FinalizerGate.SafePoint();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var batch = NextBatch(loader);
        CallHook(h => h.BeforeValIter(this));
        RunIter(batch, trainMode: false);
        CallHook(h => h.AfterValIter(this));
        Outputs = null;
        InnerIter++;
    }

    protected override void OnResumed(LoadedCheckpoint checkpoint) => InnerIter = Iter;

    public override string SaveCheckpoint(string outDir, string? filenameTmpl = null, bool saveOptimizer = true,
        IEnumerable<KeyValuePair<string, object?>>? meta = null, bool createSymlink = true)
    {
        string filename = (filenameTmpl ?? "iter_{}.pth").Replace("{}", (Iter + 1).ToString(System.Globalization.CultureInfo.InvariantCulture));
        return WriteCheckpoint(outDir, filename, saveOptimizer, meta, createSymlink, Epoch + 1, Iter + 1);
    }

    // Called after the stop, when Iter counts the iterations done (SaveCheckpoint runs inside one, before Iter += 1).
    public override string SaveResumeCheckpoint(string outDir, IEnumerable<KeyValuePair<string, object?>>? meta = null) =>
        WriteCheckpoint(outDir, $"iter_{Iter}.pth", saveOptimizer: true, meta, createSymlink: true, Epoch + 1, Iter);

    /// <summary>mmcv's <c>IterLoader</c>: endless batches, counting passes over the loader as epochs.</summary>
    private sealed class IterLoader(IBatchSource source, int epoch) : IDisposable
    {
        private IEnumerator<IDataBatch>? _current;

        public IBatchSource Source { get; } = source;

        public int Epoch { get; private set; } = epoch;

        public IDataBatch Next()
        {
            _current ??= Source.GetEpoch(Epoch).GetEnumerator();
            if (_current.MoveNext()) return _current.Current;
            _current.Dispose();
            Epoch++;
            _current = Source.GetEpoch(Epoch).GetEnumerator();
            if (!_current.MoveNext()) throw new DetSharpException($"the {Source.DatasetName} data loader yields no batches.");
            return _current.Current;
        }

        public void Dispose() => _current?.Dispose();
    }
}
