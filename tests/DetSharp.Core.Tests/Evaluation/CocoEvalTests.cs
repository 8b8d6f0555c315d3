using System.Text.Json;
using DetSharp.Evaluation;

namespace DetSharp.Core.Tests.Evaluation;

public class CocoEvalTests
{
    public static TheoryData<string, int> Cases()
    {
        var data = new TheoryData<string, int>();
        for (int i = 0; i < 2; i++) data.Add("cocoapi_fake100", i);
        for (int i = 0; i < 8; i++) data.Add("balloon", i);
        return data;
    }

    [SharedTheory]
    [MemberData(nameof(Cases))]
    public void StatsEqualPycocotools(string dataset, int caseIndex)
    {
        string folder = dataset == "balloon" ? SharedData.FullPath("datasets", "balloon") : SharedData.FullPath("datasets", dataset);
        string statsFile = dataset == "balloon" ? Path.Combine(folder, "eval_fixtures", "expected_stats.json") : Path.Combine(folder, "expected_stats.json");
        using var doc = JsonDocument.Parse(File.ReadAllBytes(statsFile));
        var c = doc.RootElement.GetProperty("cases")[caseIndex];
        var gt = CocoApi.Load(Path.Combine(folder, c.GetProperty("gt").GetString()!));
        var dt = CocoResults.Load(Path.Combine(folder, c.GetProperty("results").GetString()!), gt);
        var iouType = c.GetProperty("iouType").GetString() == "segm" ? CocoIouType.Segm : CocoIouType.Bbox;
        var eval = new CocoEval(gt, dt, iouType);
        var stats = eval.Run();
        var expected = c.GetProperty("stats").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        for (int i = 0; i < 12; i++)
            Assert.True(expected[i] == stats[i], $"stat {i}: expected {expected[i]:R}, got {stats[i]:R}");
    }

    [SharedFact]
    public void SummaryTextMatchesCocoapiPrintout()
    {
        string folder = SharedData.FullPath("datasets", "cocoapi_fake100");
        var gt = CocoApi.Load(Path.Combine(folder, "instances_val2014_100.json"));
        var dt = CocoResults.Load(Path.Combine(folder, "instances_val2014_fakebbox100_results.json"), gt);
        var eval = new CocoEval(gt, dt, CocoIouType.Bbox);
        eval.Run();
        // cocoapi's stored printout (bbox block) predates the {:<18} title column: normalise that one space.
        var lines = File.ReadAllLines(Path.Combine(folder, "val2014_fake_eval_res.txt"));
        int start = Array.IndexOf(lines, "type=bbox");
        var printed = lines.Skip(start).Where(l => l.StartsWith(" Average", StringComparison.Ordinal)).Take(12).ToArray();
        Assert.Equal(12, printed.Length);
        var ours = eval.SummaryText.TrimEnd('\n').Split('\n');
        Assert.Equal(" Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.505", ours[0]);
        Assert.Equal(" Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ] = 0.387", ours[6]);
        Assert.Equal(printed, ours.Select(l => l.Replace("Precision  (AP)", "Precision (AP)").Replace("Recall     (AR)", "Recall    (AR)")));
    }
}
