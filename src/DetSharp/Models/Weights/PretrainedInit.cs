using DetSharp.Config;
using DetSharp.Engine.Checkpoints;
using DetSharp.IO;
using DetSharp.Models.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Weights;

/// <summary>One <c>init_cfg=dict(type='Pretrained', ...)</c> that <see cref="PretrainedInit.InitWeights"/> applied.</summary>
/// <param name="Module">The module's name in the model ("backbone"; "" for the model itself).</param>
public sealed record PretrainedLoad(string Module, string Checkpoint, string? Prefix, StateDictLoadReport Report);

/// <summary>
/// mmcv's <c>init_weights()</c> for the <c>init_cfg</c> of every module of a model that takes one
/// (<see cref="IHasInitCfg"/>), in module order, parents before children: <c>dict(type='Pretrained', checkpoint=...,
/// prefix=...)</c> loads that checkpoint non-strictly — with <c>prefix</c>, only the keys under it, prefix removed
/// (mmcv's <c>_load_checkpoint_with_prefix</c>) — and the report (missing, unexpected, shape mismatches skipped) is
/// logged as mmcv warns; the other types (Normal, Xavier, Kaiming, Constant, ...) initialise the layers they name
/// (<see cref="WeightInitializers"/>). Modules are built with MMDetection's default initialisation, so an explicit
/// <c>init_cfg</c> re-initialises on top of it. Checkpoints: a <c>.pth</c> (bare state dict or mmcv's layout,
/// <c>module.</c> removed), <c>.safetensors</c>, an ONNX ResNet, or <c>nuget://resnet18-imagenet</c>
/// (<see cref="PretrainedWeights"/>). Call it after building a model for training, as MMDetection's train.py calls
/// <c>model.init_weights()</c>. A checkpoint given by URL or model-zoo name is downloaded first unless cached
/// (the <c>log</c> and <c>progress</c> arguments report it).
/// </summary>
public static class PretrainedInit
{
    public static List<PretrainedLoad> InitWeights(nn.Module model, Action<string>? log = null, Action<string>? progress = null)
    {
        var modules = ModuleTools.SelfAndDescendants(model).ToList();
        var done = new List<PretrainedLoad>();
        foreach (var (name, module) in modules)
        {
            if (module is not IHasInitCfg holder) continue;
            foreach (var cfg in Entries(holder.InitCfg, name))
            {
                if (cfg.Get<string?>("type", null) != "Pretrained")
                {
                    WeightInitializers.Apply(module, cfg, name.Length == 0 ? "model.init_cfg" : $"{name}.init_cfg");
                    continue;
                }
                string checkpoint = cfg.Get<string>("checkpoint");
                string? prefix = cfg.Get<string?>("prefix", null);
                var sd = PretrainedWeights.Read(checkpoint, log: log, progress: progress);
                try
                {
                    var source = prefix is null ? sd : PretrainedWeights.SelectPrefix(sd, prefix, checkpoint);
                    log?.Invoke(prefix is null
                        ? $"load checkpoint from {Describe(checkpoint)} into {(name.Length == 0 ? "the model" : name)}"
                        : $"load {prefix} in model from: {checkpoint} into {(name.Length == 0 ? "the model" : name)}");
                    var report = Checkpoint.LoadStateDict(module, source, strict: false);
                    if (report.Message is { } warning) log?.Invoke(warning.TrimEnd());
                    done.Add(new PretrainedLoad(name, checkpoint, prefix, report));
                }
                finally
                {
                    foreach (var t in sd.Values) t.Dispose();
                }
            }
        }
        return done;
    }

    // mmcv's wording ("http path: URL", "local path: FILE"); nuget://resnet18-imagenet is named as it is.
    private static string Describe(string checkpoint) =>
        checkpoint.Equals(PretrainedWeights.ResNet18Uri, StringComparison.OrdinalIgnoreCase) ? checkpoint : ModelZoo.Describe(checkpoint);

    private static IEnumerable<ConfigDict> Entries(object? initCfg, string module)
    {
        IEnumerable<object?> items = initCfg switch
        {
            null => [],
            ConfigDict d => [d],
            IEnumerable<object?> list => list,
            _ => [initCfg],
        };
        foreach (var item in items)
        {
            yield return item as ConfigDict
                         ?? throw new DetSharpException($"{(module.Length == 0 ? "model" : module)}.init_cfg must be a dict or a list of dicts, got {ConfigValue.Describe(item)}.");
        }
    }
}
