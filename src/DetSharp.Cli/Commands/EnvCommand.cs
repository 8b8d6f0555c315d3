using System.CommandLine;
using DetSharp.Utils;

namespace DetSharp.Cli.Commands;

/// <summary><c>detsharp env</c>: MMDetection's collect_env — what a bug report needs.</summary>
internal static class EnvCommand
{
    public static Command Create()
    {
        var command = new Command("env", "Print DetSharp, TorchSharp, libtorch, OpenCV, CUDA and thread information.");
        command.SetAction(_ =>
        {
            foreach (var (key, value) in CollectEnv.Collect(() => OpenCvSharp.Cv2.GetVersionString() ?? "unknown"))
                Console.WriteLine($"{key}: {value}");
            return 0;
        });
        return command;
    }
}
