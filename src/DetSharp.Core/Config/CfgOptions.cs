using System.Globalization;

namespace DetSharp.Config;

/// <summary>
/// mmcv's <c>DictAction</c>: parses <c>--cfg-options key=value</c> items. Values become int, float, bool, None or
/// string; <c>[..]</c> gives a list, <c>(..)</c> a tuple, a bare comma list a list; brackets nest.
/// </summary>
public static class CfgOptions
{
    /// <summary>Parses <c>a.b.c=value</c> items into an ordered dict of dotted keys to values.</summary>
    public static ConfigDict Parse(IEnumerable<string> items)
    {
        var options = new ConfigDict();
        foreach (var item in items)
        {
            int eq = item.IndexOf('=');
            if (eq <= 0)
                throw new DetSharpException($"--cfg-options item '{item}' is not of the form key=value (e.g. model.roi_head.bbox_head.num_classes=1).");
            options[item[..eq]] = ParseValue(item[(eq + 1)..]);
        }
        return options;
    }

    /// <summary>DictAction's value parsing, including its whitespace removal and quote stripping.</summary>
    public static object? ParseValue(string text) => ParseIterable(text);

    private static object? ParseIterable(string val)
    {
        val = val.Trim('\'', '"').Replace(" ", "");
        if (Count(val, '(') != Count(val, ')') || Count(val, '[') != Count(val, ']'))
            throw new DetSharpException($"--cfg-options value '{val}' has unbalanced brackets.");
        bool isTuple = false;
        if (val.StartsWith('(') && val.EndsWith(')'))
        {
            isTuple = true;
            val = val[1..^1];
        }
        else if (val.StartsWith('[') && val.EndsWith(']'))
        {
            val = val[1..^1];
        }
        else if (!val.Contains(','))
        {
            return ParseScalar(val);
        }
        var values = new List<object?>();
        while (val.Length > 0)
        {
            int comma = NextComma(val);
            values.Add(ParseIterable(val[..comma]));
            val = comma + 1 < val.Length ? val[(comma + 1)..] : "";
        }
        return isTuple ? new ConfigTuple(values) : new ConfigList(values);
    }

    private static int Count(string text, char c)
    {
        int n = 0;
        foreach (char x in text)
            if (x == c) n++;
        return n;
    }

    private static int NextComma(string text)
    {
        int depth = 0;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c is '(' or '[') depth++;
            else if (c is ')' or ']') depth--;
            else if (c == ',' && depth == 0) return i;
        }
        return text.Length;
    }

    /// <summary>int, then float, then true/false (any case), then None, else the string itself — as mmcv.</summary>
    public static object? ParseScalar(string val)
    {
        if (TryPythonInt(val, out long l)) return l;
        if (TryPythonFloat(val, out double d)) return d;
        string lower = val.ToLowerInvariant();
        if (lower == "true") return true;
        if (lower == "false") return false;
        if (val == "None") return null;
        return val;
    }

    private static bool TryPythonInt(string s, out long value)
    {
        value = 0;
        string body = s.StartsWith('+') || s.StartsWith('-') ? s[1..] : s;
        if (body.Length == 0 || body[0] == '_' || body[^1] == '_' || body.Contains("__")) return false;
        foreach (char c in body)
            if (!(char.IsAsciiDigit(c) || c == '_')) return false;
        return long.TryParse(s.Replace("_", ""), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);
    }

    private static bool TryPythonFloat(string s, out double value)
    {
        value = 0;
        string lower = s.ToLowerInvariant();
        string unsigned = lower.TrimStart('+', '-');
        if (lower.Length - unsigned.Length > 1) return false;
        bool negative = lower.StartsWith('-');
        if (unsigned is "inf" or "infinity") { value = negative ? double.NegativeInfinity : double.PositiveInfinity; return true; }
        if (unsigned == "nan") { value = double.NaN; return true; }
        if (unsigned.Length == 0) return false;
        bool digit = false;
        foreach (char c in unsigned)
        {
            if (char.IsAsciiDigit(c)) digit = true;
            else if (c is not ('.' or 'e' or '+' or '-' or '_')) return false;
        }
        if (!digit) return false;
        return double.TryParse(s.Replace("_", ""), NumberStyles.Float, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>mmcv's <c>merge_from_dict</c>: dotted keys become nested dicts, merged with list indexing allowed.</summary>
    public static ConfigDict Apply(ConfigDict config, ConfigDict options, string? file = null)
    {
        var nested = new ConfigDict();
        foreach (var (fullKey, value) in options)
        {
            var parts = fullKey.Split('.');
            var d = nested;
            for (int i = 0; i < parts.Length - 1; i++)
            {
                if (!d.TryGetValue(parts[i], out var next) || next is not ConfigDict sub)
                {
                    sub = new ConfigDict();
                    d[parts[i]] = sub;
                }
                d = sub;
            }
            d[parts[^1]] = value;
        }
        return ConfigMerge.Merge(nested, config, allowListKeys: true, file: file);
    }
}
