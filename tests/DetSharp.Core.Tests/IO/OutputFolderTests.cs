using DetSharp.Core.Tests.TestSupport;
using DetSharp.IO;

namespace DetSharp.Core.Tests.IO;

/// <summary>Issue 27, items 1 and 3: output paths derived from data stay inside their folder; an input is never an output.</summary>
public class OutputFolderTests
{
    [Theory]
    [InlineData("x.jpg", "x.jpg")]
    [InlineData("sub/dir/x.jpg", "sub/dir/x.jpg")]
    [InlineData("./sub/x.jpg", "sub/x.jpg")]
    [InlineData("../../x.jpg", "x.jpg")]
    [InlineData("sub/../../x.jpg", "x.jpg")]
    [InlineData("/etc/passwd", "passwd")]
    [InlineData("C:\\data\\x.jpg", "x.jpg")]
    [InlineData("a\\b.jpg", "a/b.jpg")]
    [InlineData("..", "unnamed")]
    [InlineData("", "unnamed")]
    public void Names_from_data_are_confined(string name, string expected) =>
        Assert.Equal(expected, OutputFolder.Confine(name));

    [Fact]
    public void The_folder_is_created_and_colliding_names_get_distinct_paths()
    {
        using var dir = new TempDir();
        var folder = new OutputFolder(Path.Combine(dir.Path, "not", "yet", "there"));

        string a = folder.PathFor("a/x.jpg", ".png");
        string b = folder.PathFor("x.jpg", ".png");
        string c = folder.PathFor("/elsewhere/x.jpg", ".png");
        string d = folder.PathFor("../x.JPG", ".png");

        Assert.Equal(Path.Combine(folder.Root, "a", "x.png"), a);
        Assert.Equal(Path.Combine(folder.Root, "x.png"), b);
        Assert.Equal(Path.Combine(folder.Root, "x_1.png"), c);
        Assert.Equal(Path.Combine(folder.Root, "x_2.png"), d);
        Assert.True(Directory.Exists(Path.Combine(folder.Root, "a")));
    }

    [Fact]
    public void A_symbolic_link_inside_the_folder_cannot_lead_out_of_it()
    {
        using var dir = new TempDir();
        string outside = Directory.CreateDirectory(Path.Combine(dir.Path, "outside")).FullName;
        var folder = new OutputFolder(Path.Combine(dir.Path, "show"));
        Directory.CreateSymbolicLink(Path.Combine(folder.Root, "sub"), outside);
        File.CreateSymbolicLink(Path.Combine(folder.Root, "y.jpg"), Path.Combine(outside, "victim.jpg"));

        var e = Assert.Throws<DetSharpException>(() => folder.PathFor("sub/new/x.jpg"));
        Assert.Contains("leads out of", e.Message);
        Assert.False(Directory.Exists(Path.Combine(outside, "new")));
        Assert.Throws<DetSharpException>(() => folder.PathFor("y.jpg"));
    }

    [Fact]
    public void An_output_that_is_an_input_is_refused_also_through_a_link()
    {
        using var dir = new TempDir();
        string input = dir.Write("data/val/x.jpg", "jpeg");
        Directory.CreateSymbolicLink(Path.Combine(dir.Path, "alias"), Path.Combine(dir.Path, "data"));
        var inputs = new ProtectedInputs([input]);

        var e = Assert.Throws<DetSharpException>(() => inputs.Check(Path.Combine(dir.Path, "alias", "val", "x.jpg"), "--out-dir picture"));
        Assert.Contains("would overwrite the input", e.Message);
        inputs.Check(Path.Combine(dir.Path, "data", "val", "y.jpg"), "--out-dir picture");
    }

    [Fact]
    public void Real_paths_resolve_links_and_keep_missing_tails()
    {
        using var dir = new TempDir();
        string target = Directory.CreateDirectory(Path.Combine(dir.Path, "target")).FullName;
        Directory.CreateSymbolicLink(Path.Combine(dir.Path, "link"), "target");

        Assert.Equal(Path.Combine(FilePaths.Real(target), "new", "file.txt"), FilePaths.Real(Path.Combine(dir.Path, "link", "new", "file.txt")));
        Assert.True(FilePaths.IsInside(FilePaths.Real(Path.Combine(dir.Path, "link", "f")), FilePaths.Real(target)));
        Assert.False(FilePaths.IsInside(FilePaths.Real(target) + "2", FilePaths.Real(target)));
    }
}
