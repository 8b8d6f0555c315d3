using System.Text.Json;

namespace DetSharp.Cli.Tests.Commands;

public class ConvertCommandTests
{
    private const string BalloonVia = "datasets/balloon/val/via_region_data.json";

    [SharedFact(BalloonVia)]
    public void Via2coco_writes_the_balloon_coco_file_with_annotation_ids_from_1()
    {
        string tmp = Path.Combine(Path.GetTempPath(), "detsharp-cli-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(tmp);
        try
        {
            string output = Path.Combine(tmp, "val.json");
            var r = CliRunner.Run("convert", "via2coco", SharedData.FullPath(BalloonVia), "--out", output);
            Assert.Equal(0, r.ExitCode);
            Assert.Contains("13 images, 50 annotations", r.Stdout);
            using var doc = JsonDocument.Parse(File.ReadAllBytes(output));
            Assert.Equal(1, doc.RootElement.GetProperty("annotations")[0].GetProperty("id").GetInt64());

            var bad = CliRunner.Run("convert", "via2coco", Path.Combine(tmp, "missing.json"), "--out", Path.Combine(tmp, "x.json"));
            Assert.Equal(1, bad.ExitCode);
            Assert.Contains("missing.json: VIA annotation file not found.", bad.Stderr);
            Assert.False(File.Exists(Path.Combine(tmp, "x.json")));
        }
        finally
        {
            Directory.Delete(tmp, recursive: true);
        }
    }
}
