using DetSharp.Config;
using DetSharp.Models.Common;
using DetSharp.Models.Detectors;
using DetSharp.TestSupport;
using Xunit.Abstractions;

namespace DetSharp.Tests.Models;

/// <summary>
/// MMDetection 2.28's model zoo as the specification of the model layer: for every config of
/// <c>mmdet-configs-2.28/</c> that has a layout in <c>fixtures/mmdet/zoo_state_dicts/</c>, DetSharp either builds the
/// model with exactly MMDetection's <c>state_dict</c> keys, order and shapes, or refuses it with a message naming a
/// component type it does not have yet. A built model with a different layout fails the test.
/// </summary>
public sealed class ZooStateDictTests(ITestOutputHelper output)
{
    private const string Fixtures = "fixtures/mmdet/zoo_state_dicts";
    private const string Corpus = "mmdet-configs-2.28";

    /// <summary>Configs DetSharp builds today (every one of them with MMDetection's layout); raise it as families land.</summary>
    private const int BuiltAtLeast = 349;

    /// <summary>The model dict as the fixtures were made: no <c>pretrained</c>, no backbone <c>init_cfg</c>.</summary>
    internal static ConfigDict FixtureModel(string configPath)
    {
        var model = Config.Config.FromFile(configPath).Get<ConfigDict>("model").Clone();
        model.Remove("pretrained");
        if (model.TryGetValue("backbone", out var b) && b is ConfigDict backbone) backbone["init_cfg"] = null;
        return model;
    }

    [SharedFact(Fixtures)]
    public void EveryBuildableZooConfig_HasMmdetectionsStateDict()
    {
        string fixtures = SharedData.FullPath(Fixtures);
        string corpus = SharedData.FullPath(Corpus);
        var built = new List<string>();
        var mismatched = new List<string>();
        var refused = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var tsv in Directory.EnumerateFiles(fixtures, "*.state_dict.tsv").Order(StringComparer.Ordinal))
        {
            string name = Path.GetFileName(tsv)[..^".state_dict.tsv".Length];
            string config = Path.Combine(corpus, name.Replace("__", "/", StringComparison.Ordinal) + ".py");
            if (!File.Exists(config)) continue;
            BaseDetector model;
            try
            {
                model = ModelFixtures.Build(FixtureModel(config));
            }
            catch (DetSharpException e)
            {
                string reason = ReasonOf(e.Message);
                refused[reason] = refused.GetValueOrDefault(reason) + 1;
                continue;
            }
            using (model)
            {
                var expected = File.ReadAllLines(tsv).Where(l => l.Length > 0).ToList();
                var actual = ModuleTools.StateDictTsv(model).Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
                if (expected.SequenceEqual(actual)) built.Add(name);
                else mismatched.Add($"{name}: {FirstDifference(expected, actual)}");
            }
        }
        output.WriteLine($"built with MMDetection's state_dict: {built.Count}; mismatched: {mismatched.Count}");
        foreach (var (reason, count) in refused.OrderByDescending(kv => kv.Value)) output.WriteLine($"refused {count,4}: {reason}");
        Assert.True(mismatched.Count == 0, "state_dict differs from MMDetection's:\n" + string.Join("\n", mismatched));
        Assert.True(built.Count >= BuiltAtLeast, $"only {built.Count} zoo configs built (expected at least {BuiltAtLeast}).");
    }

    /// <summary>The refusal without the file and key path, so that one missing type counts once ("'FCOS' is not registered ...").</summary>
    private static string ReasonOf(string message)
    {
        int at = message.IndexOf("': ", StringComparison.Ordinal);
        string reason = at >= 0 ? message[(at + 3)..] : message;
        int hint = reason.IndexOf(" Did you mean", StringComparison.Ordinal);
        return hint >= 0 ? reason[..hint] : reason;
    }

    private static string FirstDifference(List<string> expected, List<string> actual)
    {
        for (int i = 0; i < Math.Min(expected.Count, actual.Count); i++)
        {
            if (expected[i] != actual[i]) return $"entry {i}: MMDetection '{expected[i]}', DetSharp '{actual[i]}'";
        }
        return $"MMDetection has {expected.Count} entries, DetSharp {actual.Count}";
    }
}
