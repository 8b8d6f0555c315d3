using System.Text.RegularExpressions;
using OpenCvSharp;
using Xunit.Abstractions;

namespace DetSharp.Cli.Tests.Packaging;

/// <summary>
/// DetSharp as a user gets it: the packages packed from this checkout (<see cref="PackageFeed"/>) used by a fresh
/// console application (the README's example, Packaging/DetectObjects/Program.cs) and by a fresh tool install, both
/// outside the checkout, with a NuGet package folder that starts empty. On a system whose libstdc++ lacks what
/// TorchSharp's native library asks for (Debian 12), loading libtorch from the application shows that the package's
/// buildTransitive targets fixed its copy of libLibTorchSharp.so.
/// </summary>
public sealed partial class PackageInstallTests(PackageFeed feed, ITestOutputHelper output) : IClassFixture<PackageFeed>
{
    internal static string ExampleSource => Path.Combine(RepoPaths.Root, "tests", "DetSharp.Cli.Tests", "Packaging", "DetectObjects", "Program.cs");

    private static string DemoConfig => Path.Combine(RepoPaths.Configs, "demo", "mask_rcnn_r18_slim_fpn_demo.py");

    [Fact]
    public void Packages_AreTheThreeWithSymbolsReadmeAndTheLibTorchFix()
    {
        foreach (var id in new[] { "DetSharp.Core", "DetSharp", "DetSharp.Cli" })
        {
            Assert.True(File.Exists(Path.Combine(feed.Feed, $"{id}.{feed.Version}.nupkg")), $"{id}.{feed.Version}.nupkg is not in the feed");
            Assert.True(File.Exists(Path.Combine(feed.Feed, $"{id}.{feed.Version}.snupkg")), $"{id}.{feed.Version}.snupkg is not in the feed");
        }
        using var detsharp = System.IO.Compression.ZipFile.OpenRead(Path.Combine(feed.Feed, $"DetSharp.{feed.Version}.nupkg"));
        var entries = detsharp.Entries.Select(e => e.FullName).ToHashSet();
        Assert.Contains("buildTransitive/DetSharp.targets", entries);
        Assert.Contains("buildTransitive/WeakenMissingGlibcxx.cs", entries);
        Assert.Contains("README.md", entries);
        using var nuspec = new StreamReader(detsharp.GetEntry("DetSharp.nuspec")!.Open());
        string spec = nuspec.ReadToEnd();
        // The application chooses its libtorch: the library depends on TorchSharp alone.
        Assert.Contains("id=\"TorchSharp\"", spec);
        Assert.DoesNotContain("<dependency id=\"libtorch", spec, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("<license type=\"expression\">", spec);
        Assert.Contains("<repository type=\"git\"", spec);
    }

    [Fact]
    public void Application_ReferencingThePackages_BuildsMaskRCNNAndInfers()
    {
        string app = Directory.CreateDirectory(Path.Combine(feed.Root, "DetectObjects")).FullName;
        File.WriteAllText(Path.Combine(app, "nuget.config"), feed.NuGetConfig());
        File.WriteAllText(Path.Combine(app, "DetectObjects.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="DetSharp" Version="{feed.Version}" />
                <PackageReference Include="libtorch-cpu-linux-x64" Version="{feed.LibTorchVersion}" />
              </ItemGroup>
            </Project>
            """);
        File.Copy(ExampleSource, Path.Combine(app, "Program.cs"));
        string image = Path.Combine(feed.Root, "shapes.png");
        using (var mat = new Mat(192, 256, MatType.CV_8UC3, new Scalar(40, 90, 60)))
        {
            Cv2.Ellipse(mat, new Point(80, 90), new Size(40, 28), 0, 0, 360, new Scalar(30, 200, 240), -1);
            Cv2.Rectangle(mat, new Rect(150, 60, 70, 70), new Scalar(220, 80, 40), -1);
            Assert.True(Cv2.ImWrite(image, mat));
        }

        var build = PackageFeed.Run(app, feed.PackagesFolder, 600, "dotnet", "build", "-c", "Release", "-v", "m", "--nologo");
        Assert.True(build.Code == 0, "the application did not build:\n" + build.Output);
        Assert.True(Directory.Exists(Path.Combine(feed.PackagesFolder, "detsharp", feed.Version)),
            $"DetSharp {feed.Version} was not restored into the test's own package folder:\n{build.Output}");
        if (!SystemLibStdCxxHas("GLIBCXX_3.4.32"))
            Assert.Contains("DetSharp: marked GLIBCXX_3.4.32 weak", build.Output);

        var run = PackageFeed.Run(app, feed.PackagesFolder, 300, "dotnet",
            Path.Combine(app, "bin", "Release", "net10.0", "DetectObjects.dll"), DemoConfig, image);
        Assert.True(run.Code == 0, "the application failed:\n" + run.Output);
        output.WriteLine(run.Output);
        var summary = Summary().Match(run.Output);
        Assert.True(summary.Success, "no summary line in:\n" + run.Output);
        int count = int.Parse(summary.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        // The demo config's three classes: with its initial weights the model still scores boxes above test_cfg's 0.05.
        var lines = DetectionLine().Matches(run.Output);
        Assert.Equal(Math.Min(count, 5), lines.Count);
        Assert.True(count > 0, "no detections:\n" + run.Output);
    }

    [Fact]
    public void Tool_InstalledFromTheFeed_PrintsVersionAndConfig_AndFetchesResNet18OnFirstUse()
    {
        string toolPath = Path.Combine(feed.Root, "tools");
        var install = PackageFeed.Run(feed.Root, feed.PackagesFolder, 600, "dotnet", "tool", "install", "DetSharp.Cli",
            "--version", feed.Version, "--tool-path", toolPath, "--add-source", feed.Feed);
        Assert.True(install.Code == 0, "dotnet tool install failed:\n" + install.Output);
        string detsharp = Path.Combine(toolPath, "detsharp");

        var version = PackageFeed.Run(feed.Root, feed.PackagesFolder, 60, detsharp, "--version");
        Assert.Equal(0, version.Code);
        Assert.Equal(feed.Version, version.Output.Trim());

        var config = PackageFeed.Run(feed.Root, feed.PackagesFolder, 120, detsharp, "print-config", DemoConfig);
        Assert.True(config.Code == 0, "detsharp print-config failed:\n" + config.Output);
        Assert.Contains("type='MaskRCNN'", config.Output);
        Assert.Contains("classes = ('ellipse', 'triangle', 'square')", config.Output);

        // nuget://resnet18-imagenet from an installed tool: the package is not in the (empty) package folder, so the first
        // use downloads it there, and the weights convert.
        string weights = Path.Combine(feed.Root, "resnet18.pth");
        var convert = PackageFeed.Run(feed.Root, feed.PackagesFolder, 600, detsharp, "convert", "weights", "nuget://resnet18-imagenet", weights);
        Assert.True(convert.Code == 0, "detsharp convert weights nuget://resnet18-imagenet failed:\n" + convert.Output);
        output.WriteLine(convert.Output);
        Assert.Contains("Downloading the NuGet package Microsoft.ML.DnnImageFeaturizer.ResNet18", convert.Output);
        Assert.True(File.Exists(Path.Combine(feed.PackagesFolder, "microsoft.ml.dnnimagefeaturizer.resnet18", "0.23.1",
            "tools", "DnnImageModels", "ResNet18Onnx", "ResNet18.onnx")), "ResNet18.onnx was not downloaded into the package folder");
        Assert.True(new FileInfo(weights).Length > 40_000_000, "the converted ResNet-18 is smaller than its 11.7 M parameters");
    }

    private static bool SystemLibStdCxxHas(string version)
    {
        string? lib = new[] { "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6" }.FirstOrDefault(File.Exists);
        if (lib is null) return true;
        byte[] bytes = File.ReadAllBytes(lib);
        byte[] needle = System.Text.Encoding.ASCII.GetBytes(version + "\0");
        return bytes.AsSpan().IndexOf(needle) >= 0;
    }

    [GeneratedRegex(@"shapes\.png: 256x192, (\d+) detections")]
    private static partial Regex Summary();

    [GeneratedRegex(@"^(ellipse|triangle|square) [01]\.\d{3} \[[-\d.]+, [-\d.]+, [-\d.]+, [-\d.]+\] mask: True$", RegexOptions.Multiline)]
    private static partial Regex DetectionLine();
}
