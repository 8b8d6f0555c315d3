using DetSharp.Datasets;
using DetSharp.Engine;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DetSharp.Tests.Engine.Hooks;

/// <summary>A head with YOLOXHead's L1 switch (and one layer, so the model has parameters there too).</summary>
public sealed class L1SwitchHead : nn.Module, IAuxiliaryL1Switch
{
    public Linear fc;

    public L1SwitchHead() : base("L1SwitchHead")
    {
        fc = nn.Linear(2, 2);
        RegisterComponents();
    }

    public bool UseL1 { get; set; }
}

/// <summary><see cref="TinyDetector"/> with a <c>bbox_head</c> that has an L1 switch; records the switch at every iteration.</summary>
public sealed class L1SwitchDetector : nn.Module, ITrainableDetector
{
    public TinyDetector detector;
    public L1SwitchHead bbox_head;

    public L1SwitchDetector() : base("L1SwitchDetector")
    {
        detector = new TinyDetector(seed: 6);
        bbox_head = new L1SwitchHead();
        RegisterComponents();
    }

    public List<bool> UseL1PerIteration { get; } = [];

    public LossDict ForwardTrain(IDataBatch batch)
    {
        UseL1PerIteration.Add(bbox_head.UseL1);
        return detector.ForwardTrain(batch);
    }
}

/// <summary>A training loader whose dataset can skip transforms (MultiImageMixDataset's role): records each update with the epoch it came before.</summary>
public sealed class SkipTypeKeysSource(int count = 2) : IBatchSource, ISkipTypeKeysDataset
{
    private readonly TinyBatchSource _inner = new(count);
    private readonly List<IReadOnlyList<string>> _pending = [];

    /// <summary>Each update with the epoch whose loading followed it.</summary>
    public List<(int BeforeEpoch, IReadOnlyList<string> Keys)> Updates { get; } = [];

    public int Count => _inner.Count;

    public IReadOnlyList<string>? Classes => _inner.Classes;

    public string DatasetName => "MultiImageMixDataset";

    public IEnumerable<IDataBatch> GetEpoch(int epoch)
    {
        Updates.AddRange(_pending.Select(keys => (epoch, keys)));
        _pending.Clear();
        return _inner.GetEpoch(epoch);
    }

    public void UpdateSkipTypeKeys(IReadOnlyList<string> skipTypeKeys) => _pending.Add(skipTypeKeys);
}
