using System.CommandLine;
using System.CommandLine.Help;
using DetSharp.Cli;
using DetSharp.Cli.Commands;

// Named explicitly: the assembly is DetSharp.Cli (see the csproj), but users type `detsharp`.
var root = new Command("detsharp", "DetSharp: object detection and instance segmentation for .NET, MMDetection-style.")
{
    new HelpOption(),
    new VersionOption(),
};
root.Options.Add(CliErrors.VerboseOption);
root.Subcommands.Add(EnvCommand.Create());
root.Subcommands.Add(PrintConfigCommand.Create());
root.Subcommands.Add(CocoEvalCommand.Create());
root.Subcommands.Add(PrintModelCommand.Create());
root.Subcommands.Add(AnalyzeLogsCommand.Create());
root.Subcommands.Add(BenchmarkCommand.Create());
root.Subcommands.Add(InferCommand.Create());
root.Subcommands.Add(ExportCommand.Create());
root.Subcommands.Add(ConvertCommand.Create());
root.Subcommands.Add(BrowseDatasetCommand.Create());
root.Subcommands.Add(TrainCommand.Create());
root.Subcommands.Add(TestCommand.Create());
root.Subcommands.Add(DemoCommand.Create());

return CliErrors.Run(root, args);
