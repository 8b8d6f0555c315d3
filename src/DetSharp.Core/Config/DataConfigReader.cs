using System.Globalization;
using System.Text.Json;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
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
            CheckYamlBudget(text, file);
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

    /// <summary>
    /// Measures the YAML's nesting depth and its size with every alias expanded from the parser's event stream (which
    /// reads without recursion), before the document is loaded: YamlDotNet loads nested nodes recursively (10,000 levels
    /// overflow the stack) and <see cref="FromYamlNode"/> copies an alias each time it is used (a "billion laughs" file of
    /// a few hundred bytes expands to gigabytes).
    /// </summary>
    private static void CheckYamlBudget(string text, string file)
    {
        var budget = new ConfigBudget();
        var anchors = new Dictionary<string, (long Size, int Height)>(StringComparer.Ordinal);
        var open = new Stack<(string? Anchor, long Size, int Height)>();
        var parser = new Parser(new StringReader(text));
        void Fail(Mark at, string message) => throw new DetSharpException($"{file}:{at.Line}:{at.Column}: {message}");
        void Finish(Mark at, string? anchor, long size, int height)
        {
            if (open.Count + height > ConfigBudget.MaxDepth) Fail(at, ConfigBudget.TooDeep);
            if (budget.Spend(size) is { } message) Fail(at, message);
            if (anchor is not null) anchors[anchor] = (size, height);
            if (open.Count == 0) return;
            var parent = open.Pop();
            open.Push((parent.Anchor, parent.Size + size, Math.Max(parent.Height, height + 1)));
        }
        while (parser.MoveNext())
        {
            var e = parser.Current!;
            switch (e)
            {
                case MappingStart or SequenceStart:
                    if (open.Count >= ConfigBudget.MaxDepth) Fail(e.Start, ConfigBudget.TooDeep);
                    var node = (NodeEvent)e;
                    open.Push((node.Anchor.IsEmpty ? null : node.Anchor.Value, 1, 0));
                    break;
                case MappingEnd or SequenceEnd:
                    var done = open.Pop();
                    // The container's own entries were spent as they were read; only an anchor's record needs its total.
                    if (done.Anchor is not null) anchors[done.Anchor] = (done.Size, done.Height);
                    if (open.Count > 0)
                    {
                        var parent = open.Pop();
                        open.Push((parent.Anchor, parent.Size + done.Size, Math.Max(parent.Height, done.Height + 1)));
                    }
                    break;
                case Scalar scalar:
                    Finish(e.Start, scalar.Anchor.IsEmpty ? null : scalar.Anchor.Value, 1 + scalar.Value.Length, 0);
                    break;
                case AnchorAlias alias:
                    // An unknown alias is left to the loader, which reports it with its own message.
                    if (anchors.TryGetValue(alias.Value.Value, out var target)) Finish(e.Start, null, target.Size, target.Height);
                    break;
            }
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
