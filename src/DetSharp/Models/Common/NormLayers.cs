using System.Globalization;
using DetSharp.Config;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Common;

/// <summary>
/// mmcv's <c>build_norm_layer(cfg, num_features, postfix)</c>: returns the layer and its attribute name, the type's
/// abbreviation plus the postfix (<c>bn1</c>, <c>gn</c>). Types: BN, BN2d, SyncBN and MMSyncBN (<see cref="SyncBatchNorm"/>:
/// statistics over every rank of a distributed run, plain BatchNorm in one process), GN.
/// <c>requires_grad=False</c> freezes the affine parameters. mmcv's <c>MMSyncBN</c> (its own SyncBatchNorm, which
/// also handles empty batches) has BatchNorm's state dict and, in one process, BatchNorm's batch statistics; it is not a
/// <c>_BatchNorm</c> subclass there, so <c>norm_eval</c> would skip it, but the zoo uses it only in RoI heads, where
/// nothing applies <c>norm_eval</c>, and ConvModule initialises it as any norm (weight 1, bias 0).
/// </summary>
public static class NormLayers
{
    /// <summary>The default <c>dict(type='BN', requires_grad=True)</c>.</summary>
    public static ConfigDict DefaultBn() => new() { ["type"] = "BN", ["requires_grad"] = true };

    public static (string Name, nn.Module Layer) Build(ConfigDict cfg, long numFeatures, string postfix = "")
    {
        string type = cfg.Get<string>("type");
        bool requiresGrad = cfg.Get("requires_grad", true);
        double eps = cfg.Get("eps", type == "GN" ? 1e-5 : 1e-5);
        nn.Module layer;
        string abbr;
        switch (type)
        {
            case "BN":
            case "BN2d":
                layer = new BatchNorm2d(numFeatures, eps, cfg.Get("momentum", 0.1));
                abbr = "bn";
                break;
            case "SyncBN":
                layer = new SyncBatchNorm(numFeatures, eps, cfg.Get("momentum", 0.1));
                abbr = "bn";
                break;
            case "MMSyncBN":
                layer = new SyncBatchNorm(numFeatures, eps, cfg.Get("momentum", 0.1), cfg.Get("stats_mode", "default") switch
                {
                    "default" => SyncBatchNormStats.Default,
                    "N" => SyncBatchNormStats.N,
                    var mode => throw new DetSharpException($"norm_cfg: MMSyncBN stats_mode '{mode}' is not supported (use 'default' or 'N')."),
                });
                abbr = "bn";
                break;
            case "GN":
                long groups = cfg.Get<int>("num_groups");
                layer = nn.GroupNorm(groups, numFeatures, eps: eps);
                abbr = "gn";
                break;
            default:
                throw new DetSharpException($"norm_cfg: type '{type}' is not supported (use 'BN', 'SyncBN', 'MMSyncBN' or 'GN').");
        }
        foreach (var key in cfg.Keys)
        {
            if (key is not ("type" or "requires_grad" or "eps" or "momentum" or "num_groups") && (type, key) != ("MMSyncBN", "stats_mode"))
                throw new DetSharpException($"norm_cfg: unexpected key '{key}' for {type}.");
        }
        if (!requiresGrad)
            ModuleTools.SetRequiresGrad(layer, false);
        return (abbr + postfix, layer);
    }

    /// <summary>True for BatchNorm layers (mmcv's <c>_BatchNorm</c>, SyncBN included), which <c>norm_eval</c> keeps in eval mode.</summary>
    public static bool IsBatchNorm(nn.Module m) => m is TorchSharp.Modules.BatchNorm;

    /// <summary>mmcv's <c>norm_eval</c>: every BatchNorm in <paramref name="module"/> back in eval mode (frozen statistics).</summary>
    public static void EvalBatchNorms(nn.Module module)
    {
        foreach (var (_, m) in module.named_modules())
            if (IsBatchNorm(m)) m.eval();
    }

    internal static string Format(double d) => d.ToString(CultureInfo.InvariantCulture);
}
