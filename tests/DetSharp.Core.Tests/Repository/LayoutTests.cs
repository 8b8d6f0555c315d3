using System.Text.RegularExpressions;
using DetSharp.TestSupport;

namespace DetSharp.Core.Tests.Repository;

/// <summary>
/// The README's "Layout" section and docs/ARCHITECTURE.md describe the real tree: every folder of every project under
/// <c>src/</c> is named there, and every folder they name exists.
/// </summary>
public sealed partial class LayoutTests
{
    private static readonly string[] Projects = ["DetSharp.Core", "DetSharp", "DetSharp.Cli"];

    [GeneratedRegex(@"\b([A-Z][A-Za-z]+)/")]
    private static partial Regex FolderToken();

    /// <summary>The folder names under a project (recursively), without build output.</summary>
    private static HashSet<string> Folders(string project, bool topLevelOnly)
    {
        string root = Path.Combine(RepoPaths.Root, "src", project);
        var option = topLevelOnly ? SearchOption.TopDirectoryOnly : SearchOption.AllDirectories;
        return Directory.EnumerateDirectories(root, "*", option)
            .Select(d => Path.GetRelativePath(root, d))
            .Where(r => !r.Split(Path.DirectorySeparatorChar).Any(p => p is "bin" or "obj"))
            .Select(r => r.Split(Path.DirectorySeparatorChar)[^1])
            .ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>
    /// A layout block's entry for a project: the line that starts with <c>src/PROJECT</c> and its indented continuation
    /// lines.
    /// </summary>
    private static string Described(string text, string project)
    {
        var match = Regex.Match(text, $@"^src/{Regex.Escape(project)} +(?<body>.*?)(?=\n\S|\z)", RegexOptions.Singleline | RegexOptions.Multiline);
        Assert.True(match.Success, $"the layout does not describe src/{project}");
        return match.Groups["body"].Value;
    }

    [Theory]
    [InlineData("README.md")]
    [InlineData("docs/ARCHITECTURE.md")]
    public void LayoutNamesEveryFolderOfEveryProject_AndOnlyFoldersThatExist(string document)
    {
        string text = File.ReadAllText(Path.Combine(RepoPaths.Root, document));
        foreach (var project in Projects)
        {
            var named = FolderToken().Matches(Described(text, project)).Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal);
            var missing = Folders(project, topLevelOnly: true).Except(named).Order().ToList();
            Assert.True(missing.Count == 0, $"{document}: src/{project} has folders the layout does not name: {string.Join(", ", missing)}");
            var stale = named.Except(Folders(project, topLevelOnly: false)).Order().ToList();
            Assert.True(stale.Count == 0, $"{document}: the layout names folders src/{project} does not have: {string.Join(", ", stale)}");
        }
    }
}
