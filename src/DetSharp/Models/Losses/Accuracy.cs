using static TorchSharp.torch;

namespace DetSharp.Models.Losses;

/// <summary>MMDetection's top-1 <c>accuracy(pred, target)</c> in percent (0 for no predictions).</summary>
public static class Accuracy
{
    public static Tensor Top1(Tensor pred, Tensor target)
    {
        if (pred.shape[0] == 0) return tensor(0f, device: pred.device);
        var correct = pred.argmax(1).eq(target);
        return correct.to_type(ScalarType.Float32).sum() * (float)(100.0 / pred.shape[0]);
    }
}
