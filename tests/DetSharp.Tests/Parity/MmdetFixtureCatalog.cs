using System.Collections.Concurrent;
using DetSharp.Core.Tests.Config;
using DetSharp.Core.Tests.Datasets;
using DetSharp.Core.Tests.Parity;
using DetSharp.Core.Tests.Structures;
using DetSharp.Tests.Models;
using DetSharp.Tests.Ops;

namespace DetSharp.Tests.Parity;

/// <summary>One comparison of the parity table: a fixture (file, case or record) of a family and how to measure it.</summary>
internal sealed record ParityFixture(string Family, string Name, Func<IReadOnlyList<ParityRow>> Measure);

/// <summary>
/// Every fixture of <c>../shared/fixtures/mmdet</c>, family by family (the family is the fixture folder). Where a file
/// lists its cases (transform cases, slim-model test images, state-dict variants, RoIAlign argument sets) they are read
/// from it, so a new one joins the table without code. This is the one place the comparisons run: each fixture is
/// measured once per test run, by whichever test of <see cref="MmdetParitySuite"/> asks first (the per-family theories
/// and the full-table fact share the results; the slim models and R50 builds are the slow part). The families' own test
/// classes keep only what the table does not show.
/// </summary>
internal static class MmdetFixtureCatalog
{
    public const string Root = "fixtures/mmdet";

    public static IReadOnlyList<string> Families { get; } = ["ops", "rle", "transforms", "parity", "state_dicts", "configs"];

    private static readonly Lazy<IReadOnlyList<ParityFixture>> All = new(() => Families.SelectMany(Enumerate).ToList());

    private static readonly ConcurrentDictionary<(string, string), Lazy<IReadOnlyList<ParityRow>>> Results = new();

    public static IReadOnlyList<ParityFixture> Fixtures => All.Value;

    /// <summary>The theory case of a family whose folder is there but lists no fixture: it fails, naming the folder.</summary>
    public const string NoFixtures = "(no fixtures listed)";

    /// <summary>Theory data: the fixture names of <paramref name="family"/>; a placeholder where the family's folder is
    /// absent (the theory is skipped there), so that listing the data never reads missing files, and
    /// <see cref="NoFixtures"/> where the folder is there but nothing in it would be compared.</summary>
    public static TheoryData<string> Names(string family)
    {
        var data = new TheoryData<string>();
        if (SharedData.TryPath($"{Root}/{family}") is null) data.Add("(shared fixtures absent)");
        else foreach (var f in Fixtures.Where(f => f.Family == family)) data.Add(f.Name);
        if (data.Count == 0) data.Add(NoFixtures);
        return data;
    }

    public static IReadOnlyList<ParityRow> Rows(string family, string name) => Rows(Fixtures.Single(f => f.Family == family && f.Name == name));

    public static IReadOnlyList<ParityRow> Rows(ParityFixture fixture) =>
        Results.GetOrAdd((fixture.Family, fixture.Name), _ => new(() => Run(fixture))).Value;

    /// <summary>
    /// A comparison that throws becomes a failing row, so that one broken fixture does not hide the others; so does a
    /// fixture whose measurement compared nothing.
    /// </summary>
    private static IReadOnlyList<ParityRow> Run(ParityFixture fixture)
    {
        var checks = new ParityChecks(fixture.Family, fixture.Name);
        try
        {
            var rows = fixture.Measure();
            if (rows.Count > 0) return rows;
            checks.NothingCompared();
        }
        catch (Exception e)
        {
            checks.Error(e);
        }
        return checks.Rows;
    }

    private static IEnumerable<ParityFixture> Enumerate(string family)
    {
        IReadOnlyList<ParityFixture> fixtures;
        try
        {
            fixtures = List(family).ToList();
        }
        catch (Exception e)
        {
            // An unreadable or missing fixture file is reported in the table rather than dropping the family.
            fixtures = [new ParityFixture(family, $"{Root}/{family}", () => throw new InvalidOperationException($"cannot list the {family} fixtures", e))];
        }
        return fixtures;

        static IEnumerable<ParityFixture> List(string family) => family switch
        {
            "ops" => MmcvOpsParity.Fixtures().Select(n => new ParityFixture(family, n, () => MmcvOpsParity.Measure(n))),
            "rle" => RleParity.Fixtures.Select(n => new ParityFixture(family, n, () => RleParity.Measure(n))),
            "transforms" => TransformParity.Files.SelectMany(file => TransformParity.CaseNames(file).Select(c =>
                new ParityFixture(family, $"{file}: {c}", () => TransformParity.Measure(file, c)))),
            "parity" => SlimModelParity.Models.SelectMany(m => SlimModelParity.TestImages(m)
                .Select(file => new ParityFixture(family, $"{m}_slim test {file}", () => SlimModelParity.MeasureTest(m, file)))
                .Append(new ParityFixture(family, $"{m}_slim train", () => SlimModelParity.MeasureTrain(m).Rows))),
            "state_dicts" => StateDictParity.Variants().Select(VariantStateDict)
                .Concat(StateDictParity.ShippedCases.Select(c => ShippedStateDict((string)c[0], (string)c[1], (int?)c[2]))),
            "configs" => ConfigParity.Fixtures.Select(n => new ParityFixture(family, n, () => ConfigParity.Measure(n))),
            _ => throw new ArgumentOutOfRangeException(nameof(family), family, "unknown fixture family"),
        };
    }

    private static ParityFixture VariantStateDict(string name)
    {
        string fixture = StateDictParity.VariantFixtureName(name);
        return new ParityFixture("state_dicts", fixture, () =>
        {
            using var model = StateDictParity.BuildVariant(name);
            return StateDictParity.Measure(model, name, fixture);
        });
    }

    private static ParityFixture ShippedStateDict(string config, string name, int? numClasses)
    {
        string fixture = StateDictParity.ShippedFixtureName(config, name, numClasses);
        return new ParityFixture("state_dicts", fixture, () =>
        {
            using var model = StateDictParity.BuildShipped(config, numClasses);
            return StateDictParity.Measure(model, name, fixture);
        });
    }
}
