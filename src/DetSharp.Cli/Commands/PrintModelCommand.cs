using System.CommandLine;
using DetSharp.Config;
using DetSharp.Models.Common;
using DetSharp.Registry;

namespace DetSharp.Cli.Commands;

/// <summary>
/// <c>detsharp print-model CONFIG [--cfg-options ...] [--state-dict] [--depth N]</c>: builds the config's model and
/// prints its module tree with parameter counts (total and trainable), or with <c>--state-dict</c> every state-dict
/// key and shape tab-separated (<c>key\t[d0, d1, ...]</c>, the fixtures' format, in PyTorch's order).
/// </summary>
internal static class PrintModelCommand
{
    public static Command Create()
    {
        var config = new Argument<string>("config") { Description = "Config file with a 'model' dict." };
        var stateDict = new Option<bool>("--state-dict") { Description = "Print every state_dict key and shape (tab-separated) instead of the tree." };
        var depth = new Option<int>("--depth") { Description = "Deepest tree level to print (default: all).", DefaultValueFactory = _ => int.MaxValue };
        var command = new Command("print-model", "Build the config's model and print its module tree with parameter counts, or its state_dict keys.")
        {
            config,
            CommonOptions.CfgOptions,
            stateDict,
            depth,
        };
        command.SetAction(parse =>
        {
            var cfg = CommonOptions.LoadConfig(parse.GetValue(config)!, parse.GetValue(CommonOptions.CfgOptions));
            foreach (var warning in cfg.Warnings) Console.Error.WriteLine($"warning: {warning}");
            if (!cfg.Dict.TryGetValue("model", out var modelValue) || modelValue is not ConfigDict modelCfg)
                throw new DetSharpException($"{cfg.Filename}: the config has no 'model' dict.");
            ComponentRegistration.EnsureRegistered();
            using var model = Registries.Models.Build<TorchSharp.torch.nn.Module>(modelCfg);
            Console.Out.Write(parse.GetValue(stateDict) ? ModuleTools.StateDictTsv(model) : ModuleTree.Format(model, parse.GetValue(depth)));
            return 0;
        });
        return command;
    }
}
