using System.CommandLine;
using DetSharp.Config;

namespace DetSharp.Cli.Commands;

/// <summary><c>detsharp print-config</c>: MMDetection's tools/misc/print_config.py.</summary>
internal static class PrintConfigCommand
{
    public static Command Create()
    {
        var config = new Argument<string>("config") { Description = "Config file (.py, .json, .yaml)." };
        var format = new Option<string>("--format")
        {
            Description = "Output format: py (mmcv's Python text) or json.",
            DefaultValueFactory = _ => "py",
        };
        format.AcceptOnlyFromAmong("py", "json");
        var command = new Command("print-config", "Print the fully merged config (all _base_ files and --cfg-options applied).")
        {
            config,
            CommonOptions.CfgOptions,
            format,
        };
        command.SetAction(parse =>
        {
            var cfg = CommonOptions.LoadConfig(parse.GetValue(config)!, parse.GetValue(CommonOptions.CfgOptions));
            foreach (var warning in cfg.Warnings) Console.Error.WriteLine($"warning: {warning}");
            Console.Out.Write(parse.GetValue(format) == "json" ? cfg.DumpJson() + "\n" : cfg.DumpPython());
            return 0;
        });
        return command;
    }
}
