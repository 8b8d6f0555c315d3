using System.CommandLine;
using DetSharp.Config;

namespace DetSharp.Cli.Commands;

/// <summary>Options shared by the verbs that read a config, spelled as MMDetection's tools spell them.</summary>
internal static class CommonOptions
{
    public static readonly Option<string[]> CfgOptions = new("--cfg-options")
    {
        Description = "Override config settings, e.g. model.roi_head.bbox_head.num_classes=1 'data.train.pipeline.2.img_scale=(1333,800)'.",
        AllowMultipleArgumentsPerToken = true,
        Arity = ArgumentArity.ZeroOrMore,
    };

    /// <summary>Loads a config and applies <c>--cfg-options</c>, as MMDetection's tools do before anything else.</summary>
    public static Config.Config LoadConfig(string path, string[]? cfgOptions)
    {
        var cfg = Config.Config.FromFile(path);
        if (cfgOptions is { Length: > 0 })
            cfg.MergeFromOptions(cfgOptions);
        return cfg;
    }
}
