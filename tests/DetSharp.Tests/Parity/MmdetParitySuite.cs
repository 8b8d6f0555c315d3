using DetSharp.Core.Tests.Parity;
using Xunit.Abstractions;

namespace DetSharp.Tests.Parity;

/// <summary>
/// The standing proof that DetSharp computes what MMDetection computes: every fixture of <c>../shared/fixtures/mmdet</c>
/// (MMDetection 2.25 / mmcv 1.7.1 / pycocotools 2.0.11 outputs) compared with DetSharp's result, reporting per fixture
/// and metric the largest deviation, the tolerance (the same as the family's own tests) and whether it holds.
/// One theory per family (a case per fixture) and one fact that writes the whole table, to the test output and to
/// <c>parity_report.tsv</c> in a fresh temporary folder, then fails with the table of whatever is out of tolerance.
/// These are the only tests that compare with the fixtures (each comparison runs once per test run, see
/// <see cref="MmdetFixtureCatalog"/>), and a comparison that compared nothing fails.
/// </summary>
public sealed class MmdetParitySuite(ITestOutputHelper output)
{
    private const string Root = MmdetFixtureCatalog.Root;

    /// <summary>The fixture names of one family, enumerated from the fixture files.</summary>
    public static TheoryData<string> Fixtures(string family) => MmdetFixtureCatalog.Names(family);

    /// <summary>mmcv's RoIAlign (output and input gradient, 3 argument sets), NMS kept indices, bbox_overlaps in 4 modes.</summary>
    [SharedTheory(Root + "/ops")]
    [MemberData(nameof(Fixtures), "ops")]
    public void Ops_fixture_is_within_tolerance(string fixture) => Check("ops", fixture);

    /// <summary>pycocotools' RLE strings, areas, boxes, IoUs and decoded rows.</summary>
    [SharedTheory(Root + "/rle")]
    [MemberData(nameof(Fixtures), "rle")]
    public void Rle_fixture_is_within_tolerance(string fixture) => Check("rle", fixture);

    /// <summary>Each single transform (and the combined cases) on two balloon train images.</summary>
    [SharedTheory(Root + "/transforms")]
    [MemberData(nameof(Fixtures), "transforms")]
    public void Transform_fixture_is_within_tolerance(string fixture) => Check("transforms", fixture);

    /// <summary>The slim Mask R-CNN and Cascade Mask R-CNN: per test image input, proposals, stages, detections, masks; train losses.</summary>
    [SharedTheory(Root + "/parity")]
    [MemberData(nameof(Fixtures), "parity")]
    public void Slim_model_fixture_is_within_tolerance(string fixture) => Check("parity", fixture);

    /// <summary>state_dict keys, shapes and parameter counts of each model variant, from its own config and from ours.</summary>
    [SharedTheory(Root + "/state_dicts")]
    [MemberData(nameof(Fixtures), "state_dicts")]
    public void State_dict_fixture_is_within_tolerance(string fixture) => Check("state_dicts", fixture);

    /// <summary>Each merged config, value by value, against mmcv's JSON and Python dumps.</summary>
    [SharedTheory(Root + "/configs")]
    [MemberData(nameof(Fixtures), "configs")]
    public void Config_fixture_is_within_tolerance(string fixture) => Check("configs", fixture);

    [SharedFact(Root)]
    public void Every_fixture_is_within_tolerance_and_the_report_is_written()
    {
        var rows = MmdetFixtureCatalog.Fixtures.SelectMany(MmdetFixtureCatalog.Rows).ToList();
        string path = Path.Combine(Directory.CreateTempSubdirectory("detsharp-parity-").FullName, "parity_report.tsv");
        File.WriteAllText(path, ParityTable.Tsv(rows));

        output.WriteLine($"parity report: {path}");
        foreach (var line in ParityTable.Lines(rows)) output.WriteLine(line);
        foreach (var family in MmdetFixtureCatalog.Families)
        {
            var mine = rows.Where(r => r.Family == family).ToList();
            output.WriteLine($"{family}: {mine.Select(r => r.Fixture).Distinct().Count()} fixtures, {mine.Count} checks, {mine.Count(r => !r.Pass)} out of tolerance");
            // A family that contributes nothing would make the table prove less than it seems to.
            Assert.True(mine.Count > 0, $"no parity rows for the {family} fixtures");
        }
        ParityAssert.AllPass(rows);
    }

    private void Check(string family, string fixture)
    {
        Assert.False(fixture == MmdetFixtureCatalog.NoFixtures, $"{SharedData.FullPath(Root, family)} lists no fixture: nothing was compared");
        var rows = MmdetFixtureCatalog.Rows(family, fixture);
        foreach (var line in ParityTable.Lines(rows)) output.WriteLine(line);
        ParityAssert.AllPass(rows);
    }
}
