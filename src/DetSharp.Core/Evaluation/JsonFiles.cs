using System.Text.Json;
using DetSharp.Structures;

namespace DetSharp.Evaluation;

/// <summary>Small JSON helpers that turn type errors into <see cref="DetSharpException"/> naming the record and key.</summary>
internal static class JsonFiles
{
    public static JsonDocument Parse(string path)
    {
        if (!File.Exists(path)) throw new DetSharpException($"{path}: file not found.");
        try
        {
            using var stream = File.OpenRead(path);
            return JsonDocument.Parse(stream, new JsonDocumentOptions { AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new DetSharpException($"{path}: not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine}): {e.Message}", e);
        }
    }

    public static IEnumerable<(JsonElement Item, int Index)> Array(JsonElement root, string key, string source)
    {
        if (!root.TryGetProperty(key, out var array) || array.ValueKind != JsonValueKind.Array)
            throw new DetSharpException($"{source}: '{key}' must be a list.");
        int i = 0;
        foreach (var item in array.EnumerateArray()) yield return (item, i++);
    }

    public static JsonElement Required(JsonElement item, string key, string where)
    {
        if (item.ValueKind != JsonValueKind.Object)
            throw new DetSharpException($"{where} is a {item.ValueKind}, expected an object.");
        if (!item.TryGetProperty(key, out var value))
            throw new DetSharpException($"{where} has no '{key}' key.");
        return value;
    }

    public static long Id(JsonElement item, string key, string where)
    {
        var value = Required(item, key, where);
        if (value.ValueKind == JsonValueKind.Number)
        {
            if (value.TryGetInt64(out long id)) return id;
            double d = value.GetDouble();
            if (d == Math.Floor(d) && Math.Abs(d) < 9e18) return (long)d;
        }
        throw new DetSharpException($"{where}: '{key}' must be an integer, got {Describe(value)}.");
    }

    public static long Int(JsonElement item, string key, string where) => Id(item, key, where);

    public static double Number(JsonElement item, string key, string where)
    {
        var value = Required(item, key, where);
        if (value.ValueKind != JsonValueKind.Number)
            throw new DetSharpException($"{where}: '{key}' must be a number, got {Describe(value)}.");
        return value.GetDouble();
    }

    public static BoxXywh Box(JsonElement value, string where)
    {
        if (value.ValueKind != JsonValueKind.Array || value.GetArrayLength() != 4)
            throw new DetSharpException($"{where}: 'bbox' must be a list of 4 numbers [x, y, w, h], got {Describe(value)}.");
        Span<double> v = stackalloc double[4];
        for (int i = 0; i < 4; i++)
        {
            if (value[i].ValueKind != JsonValueKind.Number)
                throw new DetSharpException($"{where}: 'bbox' must be a list of 4 numbers [x, y, w, h], element {i} is {Describe(value[i])}.");
            v[i] = value[i].GetDouble();
        }
        return new BoxXywh(v[0], v[1], v[2], v[3]);
    }

    public static bool Truthy(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.True => true,
        JsonValueKind.Number => value.GetDouble() != 0,
        _ => false,
    };

    public static string Describe(JsonElement value)
    {
        string text = value.GetRawText();
        if (text.Length > 40) text = text[..40] + "...";
        return $"{value.ValueKind.ToString().ToLowerInvariant()} {text}";
    }
}
