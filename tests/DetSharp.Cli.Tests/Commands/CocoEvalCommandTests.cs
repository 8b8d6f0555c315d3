using System.Text.Json;
using DetSharp.Cli.Commands;
using DetSharp.Evaluation;

namespace DetSharp.Cli.Tests.Commands;

public class CocoEvalCommandTests
{
    private const string FakeResults = "datasets/cocoapi_fake100";

    [SharedFact(FakeResults)]
    public void PrintsPycocotoolsSummaryAndJson()
    {
        string folder = SharedData.FullPath(FakeResults);
        string gt = Path.Combine(folder, "instances_val2014_100.json");
        string res = Path.Combine(folder, "instances_val2014_fakebbox100_results.json");
        var text = CocoEvalCommand.Run(gt, res, CocoIouType.Bbox, classwise: true, asJson: false);
        Assert.StartsWith(" Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.505\n", text);
        Assert.Contains("| category", text);
        using var doc = JsonDocument.Parse(CocoEvalCommand.Run(gt, res, CocoIouType.Bbox, classwise: false, asJson: true));
        Assert.Equal(0.5045806987249628, doc.RootElement.GetProperty("stats")[0].GetDouble());
    }

    [Fact]
    public void MissingFileIsADetSharpException()
    {
        var e = Assert.Throws<DetSharpException>(() => CocoEvalCommand.Run("/nope/gt.json", "/nope/r.json", CocoIouType.Bbox, false, false));
        Assert.Contains("/nope/gt.json", e.Message);
    }
}
