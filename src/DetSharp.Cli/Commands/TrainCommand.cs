using System.CommandLine;
using DetSharp.Apis;

namespace DetSharp.Cli.Commands;

/// <summary><c>detsharp train</c>: MMDetection's tools/train.py.</summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var config = new Argument<string>("config") { Description = "Train config file (.py, .json, .yaml)." };
        var workDir = new Option<string?>("--work-dir") { Description = "Where logs, the config dump and checkpoints go (default: cfg.work_dir, else ./work_dirs/<config name>)." };
        var resumeFrom = new Option<string?>("--resume-from") { Description = "Checkpoint to resume from: weights, optimizer state, epoch and iteration." };
        var autoResume = new Option<bool>("--auto-resume") { Description = "Resume from latest.pth (or the newest epoch_N/iter_N.pth) in the work dir, if any." };
        var noValidate = new Option<bool>("--no-validate") { Description = "Do not evaluate checkpoints during training." };
        var seed = new Option<int?>("--seed") { Description = "Random seed (default: cfg.seed, else random; logged and saved in checkpoints)." };
        var deterministic = new Option<bool>("--deterministic") { Description = "Deterministic kernels where the backend allows it." };
        var autoScaleLr = new Option<bool>("--auto-scale-lr") { Description = "Scale the lr by batch size / auto_scale_lr.base_batch_size." };
        var device = new Option<string>("--device")
        {
            Description = "cpu or cuda.",
            DefaultValueFactory = _ => "cpu",
        };
        device.AcceptOnlyFromAmong("cpu", "cuda");
        var launcher = CommonOptions.Launcher();
        var command = new Command("train", "Train a detector from a config, as MMDetection's tools/train.py.")
        {
            config, workDir, resumeFrom, autoResume, noValidate, seed, deterministic, autoScaleLr, device, launcher, CommonOptions.CfgOptions,
        };
        command.SetAction(parse => CommonOptions.InProcessGroup(parse.GetValue(launcher)!, group =>
        {
            var cfg = CommonOptions.LoadConfig(parse.GetValue(config)!, parse.GetValue(CommonOptions.CfgOptions));
            if (group.Rank == 0) foreach (var warning in cfg.Warnings) Console.Error.WriteLine($"warning: {warning}");
            var options = new TrainOptions
            {
                WorkDir = parse.GetValue(workDir),
                ResumeFrom = parse.GetValue(resumeFrom),
                AutoResume = parse.GetValue(autoResume),
                NoValidate = parse.GetValue(noValidate),
                Seed = parse.GetValue(seed),
                Deterministic = parse.GetValue(deterministic),
                AutoScaleLr = parse.GetValue(autoScaleLr),
                Device = parse.GetValue(device)!,
                Console = group.Rank == 0 ? Console.Out : null,
                Interactive = group.Rank == 0 && !Console.IsOutputRedirected,
            };
            string dir = TrainDetector.Train(cfg, options, new TrainComponents { ProcessGroup = group });
            if (group.Rank == 0) Console.Out.WriteLine($"Training finished; checkpoints and logs are in {dir}");
            return 0;
        }));
        return command;
    }
}
