using System.CommandLine;
using DetSharp.Cli;
using DetSharp.Cli.Commands;

var root = new RootCommand("DetSharp: object detection and instance segmentation for .NET, MMDetection-style.");
root.Options.Add(CliErrors.VerboseOption);
root.Subcommands.Add(EnvCommand.Create());
root.Subcommands.Add(PrintConfigCommand.Create());
root.Subcommands.Add(CocoEvalCommand.Create());
root.Subcommands.Add(TrainCommand.Create());

return CliErrors.Run(root, args);
