using System.Diagnostics;
using System.Text.Json;

namespace DetSharp.IO;

/// <summary>
/// A project's <c>&lt;PackageDownload&gt;</c> at run time: brings a NuGet package into the user's global packages folder
/// by running <c>dotnet restore</c> on a throw-away project that asks for it, so NuGet's own configuration (sources,
/// mirrors, credentials, <c>globalPackagesFolder</c>) applies and the folder is laid out as NuGet lays it. DetSharp uses
/// it for a data package it needs on first use (<c>nuget://resnet18-imagenet</c>): the checkout's build downloads that
/// package at restore, but an application that references the DetSharp package never restores it. Needs the .NET SDK
/// (<c>dotnet</c>) on the machine, as a .NET tool or a <c>dotnet run</c> has.
/// </summary>
public static class NuGetPackageDownload
{
    /// <summary>
    /// The folder of package <paramref name="id"/> <paramref name="version"/> in the global packages folder (NuGet's
    /// lower-case <c>id/version</c> layout), downloaded first when it is not there. <paramref name="log"/> gets what is
    /// being done; a failure is a <see cref="DetSharpException"/> naming the package and NuGet's own message.
    /// </summary>
    public static string Fetch(string id, string version, Action<string>? log = null)
    {
        var dir = Directory.CreateTempSubdirectory("detsharp-nuget-");
        try
        {
            string project = Path.Combine(dir.FullName, "download.csproj");
            File.WriteAllText(project, Project(id, version));
            log?.Invoke($"Downloading the NuGet package {id} {version} into the NuGet package folder (once): dotnet restore");
            var (code, output) = Run(DotnetHost(), ["restore", project, "--nologo", "-v", "q"], dir.FullName);
            string? root = code == 0 ? PackageFolder(Path.Combine(dir.FullName, "obj", "project.assets.json")) : null;
            string folder = root is null ? "" : Path.Combine(root, id.ToLowerInvariant(), version.ToLowerInvariant());
            if (code != 0 || !Directory.Exists(folder))
            {
                throw new DetSharpException(
                    $"could not download the NuGet package {id} {version} (`dotnet restore` of a project with <PackageDownload Include=\"{id}\" " +
                    $"Version=\"[{version}]\" /> exited with {code}): {Tail(output)}. Restore it once on a machine with NuGet access " +
                    "(add that PackageDownload to any project and run `dotnet restore`) and copy it into this machine's NuGet package folder.");
            }
            return folder;
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>
    /// A project that downloads the package and nothing else: no Directory.Build.* or central package versions of
    /// whatever folder the temp directory sits in, the running runtime's framework (which this SDK knows).
    /// </summary>
    private static string Project(string id, string version) => $"""
        <Project>
          <PropertyGroup>
            <ImportDirectoryBuildProps>false</ImportDirectoryBuildProps>
            <ImportDirectoryBuildTargets>false</ImportDirectoryBuildTargets>
            <ImportDirectoryPackagesProps>false</ImportDirectoryPackagesProps>
          </PropertyGroup>
          <Import Project="Sdk.props" Sdk="Microsoft.NET.Sdk" />
          <PropertyGroup>
            <TargetFramework>net{Environment.Version.Major}.0</TargetFramework>
          </PropertyGroup>
          <ItemGroup>
            <PackageDownload Include="{id}" Version="[{version}]" />
          </ItemGroup>
          <Import Project="Sdk.targets" Sdk="Microsoft.NET.Sdk" />
        </Project>
        """;

    /// <summary>The global packages folder the restore used (the first of <c>packageFolders</c> in its assets file).</summary>
    private static string? PackageFolder(string assetsFile)
    {
        if (!File.Exists(assetsFile)) return null;
        using var doc = JsonDocument.Parse(File.ReadAllText(assetsFile));
        return doc.RootElement.TryGetProperty("packageFolders", out var folders)
            ? folders.EnumerateObject().Select(p => p.Name).FirstOrDefault()
            : null;
    }

    /// <summary>The <c>dotnet</c> host running this process (a tool or <c>dotnet app.dll</c>), else <c>dotnet</c> from PATH.</summary>
    private static string DotnetHost() =>
        Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path).Equals("dotnet", StringComparison.OrdinalIgnoreCase)
            ? path
            : "dotnet";

    private static (int Code, string Output) Run(string file, IEnumerable<string> arguments, string workingDirectory)
    {
        var info = new ProcessStartInfo(file, arguments)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        try
        {
            using var process = Process.Start(info) ?? throw new DetSharpException($"could not start {file}");
            var stderr = process.StandardError.ReadToEndAsync();
            string stdout = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, stdout + stderr.GetAwaiter().GetResult());
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, $"the .NET SDK's `dotnet` command was not found ({e.Message})");
        }
    }

    private static string Tail(string output)
    {
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.Length == 0 ? "no output" : string.Join(" ", lines.TakeLast(5));
    }
}
