using System.Globalization;
using System.Text.Json;

namespace DetSharp.Analysis;

/// <summary>
/// A training log in MMDetection's <c>.log.json</c> format (ours or MMDetection's own), read as its
/// <c>analyze_logs.load_json_logs</c> does: the first line (run meta) is skipped, lines without <c>epoch</c> are
/// skipped, and every other line's values are appended per epoch and key.
/// </summary>
public sealed class JsonTrainingLog
{
    private readonly SortedDictionary<int, Dictionary<string, List<JsonElement>>> _epochs;

    private JsonTrainingLog(string path, SortedDictionary<int, Dictionary<string, List<JsonElement>>> epochs)
    {
        Path = path;
        _epochs = epochs;
    }

    public string Path { get; }

    /// <summary>Epoch numbers in the order they first appear (as the 1-based values logged).</summary>
    public IReadOnlyCollection<int> Epochs => _epochs.Keys;

    public static JsonTrainingLog Load(string path)
    {
        if (!File.Exists(path))
            throw new DetSharpException($"log file not found: {path}");
        var epochs = new SortedDictionary<int, Dictionary<string, List<JsonElement>>>();
        int lineNumber = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNumber++;
            if (lineNumber == 1 || string.IsNullOrWhiteSpace(line)) continue;
            JsonElement record;
            try
            {
                using var doc = JsonDocument.Parse(line);
                record = doc.RootElement.Clone();
            }
            catch (JsonException e)
            {
                throw new DetSharpException($"{path}:{lineNumber}: not a JSON log line ({e.Message}). Pass the .log.json file, not the text .log.");
            }
            if (record.ValueKind != JsonValueKind.Object || !record.TryGetProperty("epoch", out var epochValue)) continue;
            if (!epochValue.TryGetInt32(out int epoch))
                throw new DetSharpException($"{path}:{lineNumber}: 'epoch' is not an integer.");
            if (!epochs.TryGetValue(epoch, out var values))
                epochs[epoch] = values = new Dictionary<string, List<JsonElement>>(StringComparer.Ordinal);
            foreach (var property in record.EnumerateObject())
            {
                if (property.Name == "epoch") continue;
                if (!values.TryGetValue(property.Name, out var list)) values[property.Name] = list = [];
                list.Add(property.Value);
            }
        }
        if (epochs.Count == 0)
            throw new DetSharpException($"{path}: no log records with an 'epoch' field; is this a training .log.json?");
        return new JsonTrainingLog(path, epochs);
    }

    /// <summary>The values logged under <paramref name="key"/> in <paramref name="epoch"/> (empty when absent).</summary>
    public IReadOnlyList<JsonElement> Values(int epoch, string key) =>
        _epochs.TryGetValue(epoch, out var values) && values.TryGetValue(key, out var list) ? list : [];

    public bool Has(int epoch, string key) => _epochs.TryGetValue(epoch, out var v) && v.ContainsKey(key);

    internal static double Number(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Number => value.GetDouble(),
        JsonValueKind.String when double.TryParse(value.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out double d) => d,
        _ => double.NaN,
    };
}
