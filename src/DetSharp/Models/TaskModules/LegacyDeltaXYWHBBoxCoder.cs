using DetSharp.Registry;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.TaskModules;

/// <summary>
/// MMDetection's <c>LegacyDeltaXYWHBBoxCoder</c>, the box deltas of MMDetection 1.x models (<c>legacy_1.x/</c> configs):
/// <see cref="DeltaXYWHBBoxCoder"/>'s (dx, dy, dw, dh) with 1.x's pixel convention — widths and heights are
/// x2 − x1 + 1 in both directions (decoded corners are the centre ∓ w/2 of such a width), clamped to
/// [0, w − 1] × [0, h − 1] when a shape is given; dw, dh clamped to ±|log(wh_ratio_clip)| (16/1000). No centre clamp,
/// no <c>clip_border</c> switch (1.x had none).
/// </summary>
[Register(Registries.TaskModulesName, "LegacyDeltaXYWHBBoxCoder")]
public sealed class LegacyDeltaXYWHBBoxCoder : IBBoxCoder
{
    private const double WhRatioClip = 16.0 / 1000;
    private readonly float[] _means;
    private readonly float[] _stds;

    public LegacyDeltaXYWHBBoxCoder(double[]? targetMeans = null, double[]? targetStds = null)
    {
        _means = (targetMeans ?? [0, 0, 0, 0]).Select(v => (float)v).ToArray();
        _stds = (targetStds ?? [1, 1, 1, 1]).Select(v => (float)v).ToArray();
        if (_means.Length != 4 || _stds.Length != 4) throw new DetSharpException("LegacyDeltaXYWHBBoxCoder: target_means and target_stds need 4 values.");
    }

    /// <summary><c>legacy_bbox2delta</c>.</summary>
    public Tensor Encode(Tensor priors, Tensor gtBboxes)
    {
        using var scope = NewDisposeScope();
        var p = priors.to_type(ScalarType.Float32);
        var g = gtBboxes.to_type(ScalarType.Float32);
        var px = (p[.., 0] + p[.., 2]) * 0.5f;
        var py = (p[.., 1] + p[.., 3]) * 0.5f;
        var pw = p[.., 2] - p[.., 0] + 1.0f;
        var ph = p[.., 3] - p[.., 1] + 1.0f;
        var gx = (g[.., 0] + g[.., 2]) * 0.5f;
        var gy = (g[.., 1] + g[.., 3]) * 0.5f;
        var gw = g[.., 2] - g[.., 0] + 1.0f;
        var gh = g[.., 3] - g[.., 1] + 1.0f;
        var deltas = stack([(gx - px) / pw, (gy - py) / ph, log(gw / pw), log(gh / ph)], -1);
        var means = tensor(_means, device: deltas.device).unsqueeze(0);
        var stds = tensor(_stds, device: deltas.device).unsqueeze(0);
        return deltas.sub(means).div(stds).MoveToOuterDisposeScope();
    }

    /// <summary><c>legacy_delta2bbox</c> of [N, 4·k] deltas around [N, 4] boxes.</summary>
    public Tensor Decode(Tensor priors, Tensor pred, (int Height, int Width)? maxShape = null)
    {
        if (pred.shape[0] == 0) return pred.alias();
        using var scope = NewDisposeScope();
        long k = pred.shape[1] / 4;
        var means = tensor(_means, device: pred.device).repeat(k).unsqueeze(0);
        var stds = tensor(_stds, device: pred.device).repeat(k).unsqueeze(0);
        var d = pred * stds + means;
        var (dx, dy) = (d[.., TensorIndex.Slice(0, null, 4)], d[.., TensorIndex.Slice(1, null, 4)]);
        double maxRatio = Math.Abs(Math.Log(WhRatioClip));
        var dw = d[.., TensorIndex.Slice(2, null, 4)].clamp(-maxRatio, maxRatio);
        var dh = d[.., TensorIndex.Slice(3, null, 4)].clamp(-maxRatio, maxRatio);
        var px = ((priors[.., 0] + priors[.., 2]) * 0.5f).unsqueeze(1).expand_as(dx);
        var py = ((priors[.., 1] + priors[.., 3]) * 0.5f).unsqueeze(1).expand_as(dy);
        var pw = (priors[.., 2] - priors[.., 0] + 1.0f).unsqueeze(1).expand_as(dw);
        var ph = (priors[.., 3] - priors[.., 1] + 1.0f).unsqueeze(1).expand_as(dh);
        var gw = pw * dw.exp();
        var gh = ph * dh.exp();
        var gx = px + pw * dx;
        var gy = py + ph * dy;
        var x1 = gx - gw * 0.5f;
        var y1 = gy - gh * 0.5f;
        var x2 = gx + gw * 0.5f;
        var y2 = gy + gh * 0.5f;
        if (maxShape is { } s)
        {
            x1 = x1.clamp(0, s.Width - 1);
            y1 = y1.clamp(0, s.Height - 1);
            x2 = x2.clamp(0, s.Width - 1);
            y2 = y2.clamp(0, s.Height - 1);
        }
        return stack([x1, y1, x2, y2], -1).view_as(pred).MoveToOuterDisposeScope();
    }
}
