using System.Text.RegularExpressions;

namespace DetSharp.Config;

/// <summary>
/// What MMDetection's tools do to a config after loading it and before <c>--cfg-options</c>:
/// <c>replace_cfg_vals</c> (<c>${a.b}</c> interpolation) and <c>update_data_root</c> (<c>MMDET_DATASETS</c>).
/// </summary>
public static partial class ConfigTools
{
    /// <summary>Loads a config the way train/test/print-config do: fromfile, replace_cfg_vals, update_data_root, cfg-options.</summary>
    public static Config Load(string path, IEnumerable<string>? cfgOptions = null, string? datasetsRoot = null)
    {
        var cfg = Config.FromFile(path);
        ReplaceCfgVals(cfg);
        UpdateDataRoot(cfg, datasetsRoot ?? Environment.GetEnvironmentVariable("MMDET_DATASETS"));
        if (cfgOptions is not null)
        {
            var items = cfgOptions.ToList();
            if (items.Count > 0) cfg.MergeFromOptions(items);
        }
        return cfg;
    }

    /// <summary>
    /// MMDetection's <c>replace_cfg_vals</c>: a string that is exactly <c>${a.b}</c> takes the value (and type) at
    /// that path of the config; <c>${a.b}</c> inside a longer string is replaced by the value's text.
    /// </summary>
    public static void ReplaceCfgVals(Config cfg)
    {
        var original = cfg.Dict;
        var replaced = (ConfigDict)Replace(original, original, cfg.Filename)!;
        cfg.ReplaceDict(replaced);
    }

    private static object? Replace(object? value, ConfigDict root, string file)
    {
        switch (value)
        {
            case ConfigDict dict:
                var copy = new ConfigDict();
                foreach (var (key, item) in dict) copy.Add(key, Replace(item, root, file));
                return copy;
            case ConfigTuple tuple:
                return new ConfigTuple(tuple.Select(x => Replace(x, root, file)));
            case ConfigList list:
                return new ConfigList(list.Select(x => Replace(x, root, file)));
            case string text:
                var matches = Interpolation().Matches(text);
                if (matches.Count == 0) return text;
                if (matches.Count == 1 && matches[0].Value == text)
                    return ConfigValue.DeepClone(Lookup(root, matches[0].Value[2..^1], file, text));
                foreach (Match match in matches)
                {
                    var found = Lookup(root, match.Value[2..^1], file, text);
                    if (found is ConfigDict or List<object?>)
                        throw new DetSharpException($"{file}: '{text}' interpolates {match.Value}, which is {ConfigValue.Describe(found)}; only a whole string may refer to a dict, list or tuple.");
                    text = text.Replace(match.Value, PyStr(found));
                }
                return text;
            default:
                return value;
        }
    }

    private static object? Lookup(ConfigDict root, string path, string file, string text)
    {
        object? current = root;
        foreach (var part in path.Split('.'))
        {
            if (current is ConfigDict d && d.TryGetValue(part, out var next)) current = next;
            else throw new DetSharpException($"{file}: '{text}' refers to '{path}', which the config does not define.");
        }
        return current;
    }

    private static string PyStr(object? value) => value switch
    {
        null => "None",
        bool b => b ? "True" : "False",
        double d => PyText.Float(d),
        string s => s,
        _ => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "",
    };

    /// <summary>
    /// MMDetection's <c>update_data_root</c>: with a datasets root set (env <c>MMDET_DATASETS</c>), every string under
    /// <c>data</c> that contains <c>data_root</c> has it replaced, and <c>data_root</c> becomes the new root.
    /// </summary>
    public static void UpdateDataRoot(Config cfg, string? datasetsRoot)
    {
        if (string.IsNullOrEmpty(datasetsRoot)) return;
        if (!cfg.Dict.TryGetValue("data_root", out var rootValue) || rootValue is not string oldRoot || oldRoot.Length == 0)
            throw new DetSharpException($"{cfg.Filename}: MMDET_DATASETS is set, but the config has no string 'data_root' to replace.");
        if (cfg.Dict.TryGetValue("data", out var data) && data is ConfigDict dataDict)
            UpdateStrings(dataDict, oldRoot, datasetsRoot);
        cfg.Dict["data_root"] = datasetsRoot;
    }

    private static void UpdateStrings(ConfigDict dict, string from, string to)
    {
        foreach (var key in dict.Keys.ToList())
        {
            switch (dict[key])
            {
                case ConfigDict sub:
                    UpdateStrings(sub, from, to);
                    break;
                case string s when s.Contains(from, StringComparison.Ordinal):
                    dict[key] = s.Replace(from, to, StringComparison.Ordinal);
                    break;
            }
        }
    }

    [GeneratedRegex(@"\$\{[a-zA-Z\d_.]*\}")]
    private static partial Regex Interpolation();
}
