using System.Diagnostics;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace DetSharp.Cli.Tests.Packaging;

/// <summary>
/// DetSharp.Core, DetSharp and the DetSharp.Cli tool packed from this checkout into a folder feed under a new temp
/// folder, as a user's CI would, with a version of their own (<c>VersionPrefix</c> of Directory.Build.props plus a
/// <c>-test.TIME</c> suffix) so that no NuGet cache can hand out an older package under the same version. The build
/// goes to the temp folder too (<c>--artifacts-path</c>), away from the checkout's bin/obj. Everything run from here
/// gets a NuGet package folder of its own (<see cref="PackagesFolder"/>); third-party packages are read from the
/// user's package folder (a fallback folder, so nothing is copied or downloaded again).
/// </summary>
public sealed partial class PackageFeed : IDisposable
{
    public PackageFeed()
    {
        Root = Directory.CreateTempSubdirectory("detsharp-packages-").FullName;
        Feed = Directory.CreateDirectory(Path.Combine(Root, "feed")).FullName;
        PackagesFolder = Directory.CreateDirectory(Path.Combine(Root, "nuget-packages")).FullName;
        var props = XDocument.Load(Path.Combine(RepoPaths.Root, "Directory.Build.props"));
        VersionPrefix = props.Descendants("VersionPrefix").Single().Value;
        string suffix = $"test.{DateTime.UtcNow:yyyyMMddHHmmss}";
        Version = $"{VersionPrefix}-{suffix}";
        var packages = XDocument.Load(Path.Combine(RepoPaths.Root, "Directory.Packages.props"));
        LibTorchVersion = packages.Descendants("PackageVersion").Single(e => (string?)e.Attribute("Include") == "libtorch-cpu-linux-x64")
            .Attribute("Version")!.Value;

        var userPackages = Run(Root, null, 60, "dotnet", "nuget", "locals", "global-packages", "--list");
        UserPackagesFolder = GlobalPackages().Match(userPackages.Output).Groups[1].Value.Trim();

        string artifacts = Path.Combine(Root, "artifacts");
        var build = Run(RepoPaths.Root, null, 900, "dotnet", "build", "src/DetSharp.Cli/DetSharp.Cli.csproj", "-c", "Release",
            "--artifacts-path", artifacts, "--version-suffix", suffix, "-v", "q", "--nologo");
        Assert.True(build.Code == 0, "dotnet build (Release) failed:\n" + build.Output);
        foreach (var project in new[] { "DetSharp.Core", "DetSharp", "DetSharp.Cli" })
        {
            var pack = Run(RepoPaths.Root, null, 600, "dotnet", "pack", $"src/{project}/{project}.csproj", "-c", "Release", "--no-build",
                "--artifacts-path", artifacts, "--version-suffix", suffix, "-o", Feed, "-v", "q", "--nologo");
            Assert.True(pack.Code == 0, $"dotnet pack {project} failed:\n" + pack.Output);
        }
    }

    public string Root { get; }

    /// <summary>The local folder feed holding the .nupkg and .snupkg files.</summary>
    public string Feed { get; }

    /// <summary>NUGET_PACKAGES of everything this fixture runs after packing: empty at first.</summary>
    public string PackagesFolder { get; }

    /// <summary>The user's NuGet package folder, where the checkout's restore put the third-party packages.</summary>
    public string UserPackagesFolder { get; }

    public string VersionPrefix { get; }

    public string Version { get; }

    public string LibTorchVersion { get; }

    /// <summary>A nuget.config for a fresh application: the feed beside the user's sources, their package folder as fallback.</summary>
    public string NuGetConfig() => $"""
        <?xml version="1.0" encoding="utf-8"?>
        <configuration>
          <packageSources>
            <add key="detsharp-test-feed" value="{Feed}" />
          </packageSources>
          <fallbackPackageFolders>
            <add key="user-packages" value="{UserPackagesFolder}" />
          </fallbackPackageFolders>
        </configuration>
        """;

    public sealed record Result(int Code, string Output);

    /// <summary>
    /// Runs a command with the test's MSBuild variables removed (a nested build must not inherit the outer one's SDK
    /// paths) and <paramref name="packagesFolder"/> as NUGET_PACKAGES when given; output is stdout and stderr together.
    /// </summary>
    public static Result Run(string workingDirectory, string? packagesFolder, int seconds, string file, params string[] args)
    {
        var info = new ProcessStartInfo(file)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase)).ToList())
            info.Environment.Remove(key);
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        info.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        if (packagesFolder is not null) info.Environment["NUGET_PACKAGES"] = packagesFolder;
        foreach (var arg in args) info.ArgumentList.Add(arg);
        var result = CliRunner.Wait(Process.Start(info)!, seconds, $"{file} {string.Join(' ', args)}");
        return new Result(result.ExitCode, result.Stdout + result.Stderr);
    }

    public void Dispose() => Directory.Delete(Root, recursive: true);

    [GeneratedRegex(@"global-packages:\s*(.+)")]
    private static partial Regex GlobalPackages();
}
