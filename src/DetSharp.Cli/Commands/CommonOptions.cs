using System.CommandLine;
using DetSharp.Config;
using DetSharp.Distributed;

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

    /// <summary>MMDetection's <c>--launcher</c>: none (one process), mpi (started by mpirun) or slurm (started by srun).</summary>
    /// <summary>MMDetection's <c>tools/test.py --fuse-conv-bn</c> (test, infer, benchmark infer): BatchNorms folded into their convs.</summary>
    public static readonly Option<bool> FuseConvBn = new("--fuse-conv-bn")
    {
        Description = "Fold each BatchNorm into the conv before it (mmcv's fuse_conv_bn): same detections, faster inference.",
    };

    public static Option<string> Launcher()
    {
        var launcher = new Option<string>("--launcher")
        {
            Description = "Job launcher: none (one process), mpi (under `mpirun -np N`) or slurm (under `srun --mpi=pmix`).",
            DefaultValueFactory = _ => "none",
        };
        launcher.AcceptOnlyFromAmong(DistLauncher.Names);
        return launcher;
    }

    /// <summary>
    /// Runs <paramref name="body"/> in the process group of <paramref name="launcher"/>. In a distributed run an error on
    /// one rank ends every rank (MPI_Abort) after printing which rank failed and why: the others would otherwise wait for
    /// it in their next collective.
    /// </summary>
    public static int InProcessGroup(string launcher, Func<IProcessGroup, int> body)
    {
        using var group = DistLauncher.Init(launcher);
        if (!group.IsDistributed) return body(group);
        int code;
        try
        {
            code = body(group);
            group.Barrier();
        }
        catch (Exception e)
        {
            group.Abort($"rank {group.Rank} of {group.WorldSize}: {CliErrors.Describe(e)}\nending the other ranks of the job.");
            throw;
        }
        return code;
    }

    /// <summary>Loads a config as MMDetection's tools do: fromfile, ${} interpolation, MMDET_DATASETS, --cfg-options.</summary>
    public static Config.Config LoadConfig(string path, string[]? cfgOptions) => ConfigTools.Load(path, cfgOptions);
}
