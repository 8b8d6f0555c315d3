using static TorchSharp.torch;

namespace DetSharp.Models.Losses;

/// <summary>
/// The weight handling MMDetection's IoU-family losses share before computing anything: a weight with no positive
/// entry gives a zero loss that keeps the graph (<c>(pred * weight).sum()</c>), and per-coordinate weights [N, 4] are
/// averaged to one weight per box, as the box-level losses return [N].
/// </summary>
internal static class BoxLossWeights
{
    /// <summary>The zero loss when <paramref name="weight"/> has no positive entry (and reduction is not 'none' where <paramref name="unlessNone"/>), else null.</summary>
    public static Tensor? ZeroLossIfNoWeight(Tensor pred, Tensor? weight, string reduction, bool unlessNone = false)
    {
        if (weight is null || (weight > 0).any().item<bool>() || unlessNone && reduction == "none") return null;
        if (pred.dim() == weight.dim() + 1) weight = weight.unsqueeze(1);
        return (pred * weight).sum();
    }

    /// <summary>[N, 4] weights averaged to [N]; others unchanged.</summary>
    public static Tensor? PerBox(Tensor? weight) => weight is not null && weight.dim() > 1 ? weight.mean([-1L]) : weight;
}
