using System.Globalization;
using System.Text.Json;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace DetSharp.Config;

/// <summary>Reads <c>.json</c> and <c>.yaml</c> configs into config trees (lists only: these formats have no tuples).</summary>
internal static class DataConfigReader
{
    private static readonly System.Text.RegularExpressions.Regex CoreFloat =
        new(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    public static ConfigDict FromJson(string text, string file)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(text, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new DetSharpException($"{file}:{(e.LineNumber ?? 0) + 1}:{(e.BytePositionInLine ?? 0) + 1}: invalid JSON: {e.Message}");
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new DetSharpException($"{file}: a JSON config must be an object at the top level.");
            return (ConfigDict)FromJsonElement(document.RootElement)!;
        }
    }

    private static object? FromJsonElement(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var dict = new ConfigDict();
                foreach (var property in element.EnumerateObject()) dict[property.Name] = FromJsonElement(property.Value);
                return dict;
            case JsonValueKind.Array:
                var list = new ConfigList();
                foreach (var item in element.EnumerateArray()) list.Add(FromJsonElement(item));
                return list;
            case JsonValueKind.String:
                return element.GetString();
            case JsonValueKind.Number:
                string raw = element.GetRawText();
                if (raw.IndexOfAny(['.', 'e', 'E']) < 0 && element.TryGetInt64(out long l)) return l;
                return element.GetDouble();
            case JsonValueKind.True:
                return true;
            case JsonValueKind.False:
                return false;
            default:
                return null;
        }
    }

    public static ConfigDict FromYaml(string text, string file)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            throw new DetSharpException($"{file}:{e.Start.Line}:{e.Start.Column}: invalid YAML: {e.Message}");
        }
        if (stream.Documents.Count == 0) return new ConfigDict();
        if (stream.Documents[0].RootNode is not YamlMappingNode)
            throw new DetSharpException($"{file}: a YAML config must be a mapping at the top level.");
        return (ConfigDict)FromYamlNode(stream.Documents[0].RootNode, file)!;
    }

    private static object? FromYamlNode(YamlNode node, string file)
    {
        switch (node)
        {
            case YamlMappingNode mapping:
                var dict = new ConfigDict();
                foreach (var (key, value) in mapping.Children)
                {
                    if (key is not YamlScalarNode { Value: { } name })
                        throw new DetSharpException($"{file}:{key.Start.Line}: config keys must be plain strings.");
                    dict[name] = FromYamlNode(value, file);
                }
                return dict;
            case YamlSequenceNode sequence:
                var list = new ConfigList();
                foreach (var item in sequence.Children) list.Add(FromYamlNode(item, file));
                return list;
            case YamlScalarNode scalar:
                return scalar.Style is ScalarStyle.Plain ? ResolvePlain(scalar.Value ?? "") : scalar.Value;
            default:
                return null;
        }
    }

    /// <summary>YAML 1.2 core-schema resolution of an unquoted scalar (so <c>1e-4</c> is a float).</summary>
    private static object? ResolvePlain(string value)
    {
        switch (value)
        {
            case "" or "~" or "null" or "Null" or "NULL": return null;
            case "true" or "True" or "TRUE": return true;
            case "false" or "False" or "FALSE": return false;
            case ".inf" or ".Inf" or ".INF" or "+.inf": return double.PositiveInfinity;
            case "-.inf" or "-.Inf" or "-.INF": return double.NegativeInfinity;
            case ".nan" or ".NaN" or ".NAN": return double.NaN;
        }
        if (long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long l)) return l;
        if (value.StartsWith("0x", StringComparison.Ordinal) && long.TryParse(value[2..], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out long hex)) return hex;
        if (CoreFloat.IsMatch(value) && double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double d)) return d;
        return value;
    }
}
