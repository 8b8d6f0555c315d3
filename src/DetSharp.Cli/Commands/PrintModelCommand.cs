using System.CommandLine;
using DetSharp.Config;
using DetSharp.Models.Common;
using DetSharp.Registry;

namespace DetSharp.Cli.Commands;

/// <summary>
/// <c>detsharp print-model CONFIG [--cfg-options ...] [--state-dict] [--depth N]</c>: builds the config's model and
/// prints its module tree with parameter counts (total and trainable), or with <c>--state-dict</c> every state-dict
/// key and shape tab-separated (<c>key\t[d0, d1, ...]</c>, the fixtures' format, in PyTorch's order).
/// <c>--summary CONFIG...</c> builds each config in turn and prints one line per config (<c>built</c> with its parameter
/// count, or <c>refused</c> with the reason) and a total: the zoo-coverage count of <c>tools/zoo-coverage.sh</c>.
/// </summary>
internal static class PrintModelCommand
{
    public static Command Create()
    {
        var config = new Argument<string[]>("config") { Description = "Config file with a 'model' dict (several with --summary).", Arity = ArgumentArity.OneOrMore };
        var summary = new Option<bool>("--summary") { Description = "Build every CONFIG given and print one line each (built / refused and why) and the total." };
        var stateDict = new Option<bool>("--state-dict") { Description = "Print every state_dict key and shape (tab-separated) instead of the tree." };
        var depth = new Option<int>("--depth") { Description = "Deepest tree level to print (default: all).", DefaultValueFactory = _ => int.MaxValue };
        var command = new Command("print-model", "Build the config's model and print its module tree with parameter counts, or its state_dict keys.")
        {
            config,
            CommonOptions.CfgOptions,
            stateDict,
            depth,
            summary,
        };
        command.SetAction(parse =>
        {
            var configs = parse.GetValue(config)!;
            var options = parse.GetValue(CommonOptions.CfgOptions);
            if (parse.GetValue(summary)) return Summary(configs, options);
            if (configs.Length != 1) throw new DetSharpException($"print-model takes one config ({configs.Length} given); add --summary to build several.");
            var cfg = CommonOptions.LoadConfig(configs[0], options);
            foreach (var warning in cfg.Warnings) Console.Error.WriteLine($"warning: {warning}");
            using var model = Build(cfg);
            Console.Out.Write(parse.GetValue(stateDict) ? ModuleTools.StateDictTsv(model) : ModuleTree.Format(model, parse.GetValue(depth)));
            return 0;
        });
        return command;
    }

    private static TorchSharp.torch.nn.Module Build(Config.Config cfg)
    {
        if (!cfg.Dict.TryGetValue("model", out var modelValue) || modelValue is not ConfigDict modelCfg)
            throw new DetSharpException($"{cfg.Filename}: the config has no 'model' dict.");
        ComponentRegistration.EnsureRegistered();
        return Registries.Models.Build<TorchSharp.torch.nn.Module>(modelCfg);
    }

    /// <summary>One line per config — <c>built  N params  CONFIG</c> or <c>refused  CONFIG  reason</c> — then the total.</summary>
    private static int Summary(IReadOnlyList<string> configs, string[]? options)
    {
        int built = 0;
        foreach (var path in configs)
        {
            try
            {
                using var model = Build(CommonOptions.LoadConfig(path, options));
                built++;
                Console.Out.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                    $"built\t{ModuleTools.CountParameters(model).Total}\t{path}"));
            }
            catch (DetSharpException e)
            {
                Console.Out.WriteLine($"refused\t{path}\t{e.Message.Split('\n')[0]}");
            }
        }
        Console.Out.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"built {built} of {configs.Count} model configs ({100.0 * built / Math.Max(1, configs.Count):F1}%)"));
        return 0;
    }
}
