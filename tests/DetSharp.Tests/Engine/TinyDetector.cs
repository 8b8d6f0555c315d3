using DetSharp.Engine;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DetSharp.Tests.Engine;

/// <summary>A real two-conv TorchSharp model whose "losses" come from synthetic tensors: enough to drive the engine.</summary>
public sealed class TinyDetector : nn.Module, ITrainableDetector
{
    public Conv2d conv1;
    public BatchNorm2d bn;
    public Conv2d conv2;
    public TinyHead head;

    public TinyDetector(int numClasses = 2, long seed = 0) : base("TinyDetector")
    {
        using var _ = NewDisposeScope();
        manual_seed(seed);
        conv1 = nn.Conv2d(3, 4, 3, padding: 1);
        bn = nn.BatchNorm2d(4);
        conv2 = nn.Conv2d(4, 2, 1);
        head = new TinyHead(numClasses);
        RegisterComponents();
    }

    /// <summary>Multiplies every loss (to provoke NaN / inf when set so).</summary>
    public double LossScale { get; set; } = 1.0;

    public LossDict ForwardTrain(IDataBatch batch)
    {
        var b = (TinyBatch)batch;
        var features = nn.functional.relu(bn.call(conv1.call(b.Images)));
        var output = conv2.call(features);
        var mse = (output - b.Targets).pow(2).mean() * LossScale;
        var l1 = output.abs().mean() * 0.1;
        var l2 = features.abs().mean() * 0.01;
        var acc = (output.sign() == b.Targets.sign()).to(float32).mean() * 100;
        return new LossDict { { "loss_mse", mse }, { "loss_reg", [l1, l2] }, { "acc", acc } };
    }
}

public sealed class TinyHead : nn.Module, IHasNumClasses
{
    public Linear fc_cls;

    public TinyHead(int numClasses) : base("TinyHead")
    {
        NumClasses = numClasses;
        fc_cls = nn.Linear(2, numClasses);
        RegisterComponents();
    }

    public int NumClasses { get; }
}

public sealed class TinyBatch(Tensor images, Tensor targets) : IDataBatch
{
    public Tensor Images { get; } = images;

    public Tensor Targets { get; } = targets;

    public int NumSamples => (int)Images.shape[0];

    public void Dispose()
    {
        Images.Dispose();
        Targets.Dispose();
    }
}

/// <summary>Batches made from a generator seeded by (epoch, index): the same data whenever they are asked for.</summary>
public sealed class TinyBatchSource(int count = 4, int batchSize = 2, IReadOnlyList<string>? classes = null) : IBatchSource
{
    public int Count { get; } = count;

    public IReadOnlyList<string>? Classes { get; } = classes ?? ["a", "b"];

    public string DatasetName => "TinyDataset";

    public IEnumerable<IDataBatch> GetEpoch(int epoch)
    {
        for (int i = 0; i < Count; i++)
        {
            var gen = new Generator((ulong)(epoch * 1000 + i + 1));
            var images = randn([batchSize, 3, 6, 6], generator: gen);
            var targets = randn([batchSize, 2, 6, 6], generator: gen);
            gen.Dispose();
            yield return new TinyBatch(images, targets);
        }
    }
}
