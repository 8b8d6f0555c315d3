namespace DetSharp.Cli.Tests.Packaging;

/// <summary>The README's "Use from your application" example is the program that <see cref="PackageInstallTests"/> compiles and runs.</summary>
public sealed class ReadmeExampleTests
{
    [Fact]
    public void Readme_ShowsTheExampleThatTheTestCompilesAndRuns()
    {
        string readme = File.ReadAllText(Path.Combine(RepoPaths.Root, "README.md")).ReplaceLineEndings("\n");
        string example = File.ReadAllText(PackageInstallTests.ExampleSource).ReplaceLineEndings("\n").TrimEnd();
        Assert.Contains("```csharp\n" + example + "\n```", readme);
        Assert.True(example.Split('\n').Length <= 15, $"the README's example has {example.Split('\n').Length} lines; it is meant to be at most 15");
    }
}
