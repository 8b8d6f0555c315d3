using DetSharp.Engine;
using DetSharp.Engine.Hooks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DetSharp.Tests.Engine.Hooks;

/// <summary>
/// OptimizerHook frees the gradients after each step (they would otherwise sit through the next forward pass) and gives
/// them back as zeros at the next zero_grad, so the updates are mmcv's with torch 1.x's <c>zero_grad()</c>.
/// </summary>
public class OptimizerHookTests
{
    private const double Lr = 0.1, Momentum = 0.9, WeightDecay = 0.5;

    private static readonly string Config = $"""
        optimizer = dict(type='SGD', lr={Lr}, momentum={Momentum}, weight_decay={WeightDecay})
        optimizer_config = dict(grad_clip=None)
        lr_config = dict(policy='fixed')
        runner = dict(type='EpochBasedRunner', max_epochs=1)
        checkpoint_config = dict(interval=100)
        log_config = dict(interval=100, hooks=[])
        workflow = [('train', 1)]
        """;

    [Fact]
    public void Gradients_are_freed_between_iterations_and_a_parameter_without_a_gradient_still_steps_with_zero()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var model = new FirstIterationOnly();
        var runner = EngineTestSupport.MakeRunner(dir.Path, model, EngineTestSupport.LoadConfig(dir.Path, Config));
        var gradsAtStart = new List<bool>();
        runner.RegisterHook(new BeforeIterAction(_ => gradsAtStart.Add(model.parameters().Any(p => { using var g = p.grad; return g is not null; }))));

        runner.Run([new TinyBatchSource(count: 2)], [("train", 1)]);

        Assert.Equal([false, false], gradsAtStart);
        Assert.All(model.parameters(), p => { using var g = p.grad; Assert.Null(g); });
        // Iteration 1: loss = a + b, so both gradients are 1: d = 1 + wd·p0, buffer = d, p1 = p0 − lr·d.
        // Iteration 2: loss = a; b's gradient is zero, not absent: d = wd·b1, buffer = momentum·buffer + d, b2 = b1 − lr·buffer.
        double a0 = 1.0, b0 = 2.0;
        double bufA = 1 + WeightDecay * a0, a1 = a0 - Lr * bufA;
        double bufB = 1 + WeightDecay * b0, b1 = b0 - Lr * bufB;
        bufA = Momentum * bufA + 1 + WeightDecay * a1;
        bufB = Momentum * bufB + WeightDecay * b1;
        Assert.Equal(a1 - Lr * bufA, model.a.item<double>(), 12);
        Assert.Equal(b1 - Lr * bufB, model.b.item<double>(), 12);
        // A parameter that never had a gradient is skipped by SGD, as in torch: no weight decay, no momentum.
        Assert.Equal(3.0, model.never.item<double>());
    }

    /// <summary>Three scalar parameters: <c>a</c> in every loss, <c>b</c> in the first one only, <c>never</c> in none.</summary>
    private sealed class FirstIterationOnly : nn.Module, ITrainableDetector
    {
        public Parameter a = nn.Parameter(tensor(1.0, float64));
        public Parameter b = nn.Parameter(tensor(2.0, float64));
        public Parameter never = nn.Parameter(tensor(3.0, float64));
        private int _calls;

        public FirstIterationOnly() : base(nameof(FirstIterationOnly)) => RegisterComponents();

        public LossDict ForwardTrain(IDataBatch batch)
        {
            var loss = _calls++ == 0 ? a + b : a * 1;
            return new LossDict { { "loss", loss.to(float32) } };
        }
    }
}
