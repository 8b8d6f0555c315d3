using System.Text;
using System.Text.RegularExpressions;

namespace DetSharp.Config;

/// <summary>
/// mmcv's <c>Config</c>: a config file loaded with its <c>_base_</c> files merged in, plus the source text.
/// </summary>
public sealed partial class Config
{
    public const string BaseKey = "_base_";
    private const string DeprecationKey = "_deprecation_";

    private Config(string filename, ConfigDict dict, string text, IReadOnlyList<string> warnings)
    {
        Filename = filename;
        Dict = dict;
        Text = text;
        Warnings = warnings;
        Annotate(Dict, "", filename);
    }

    /// <summary>The absolute path of the file this config was loaded from.</summary>
    public string Filename { get; }

    /// <summary>The merged config tree.</summary>
    public ConfigDict Dict { get; private set; }

    /// <summary>mmcv's <c>cfg.text</c>: every source file's path and text, bases first.</summary>
    public string Text { get; }

    /// <summary>Non-fatal notes from loading (e.g. <c>_deprecation_</c> entries).</summary>
    public IReadOnlyList<string> Warnings { get; }

    public T Get<T>(string path) => Dict.Get<T>(path);

    public T Get<T>(string path, T fallback) => Dict.Get(path, fallback);

    /// <summary>Loads a <c>.py</c>, <c>.json</c>, <c>.yaml</c> or <c>.yml</c> config with all its bases merged.</summary>
    public static Config FromFile(string path)
    {
        string full = Path.GetFullPath(path);
        var text = new StringBuilder();
        var warnings = new List<string>();
        var dict = Load(full, text, warnings, new Stack<string>(), declaredBy: null);
        return new Config(full, dict, text.ToString(), warnings);
    }

    /// <summary>Evaluates config text as if it were the file <paramref name="filename"/> (bases resolved next to it).</summary>
    public static Config FromText(string pythonText, string filename)
    {
        string full = Path.GetFullPath(filename);
        var text = new StringBuilder();
        var warnings = new List<string>();
        var dict = LoadPython(full, pythonText, text, warnings, new Stack<string>([full]));
        return new Config(full, dict, text.ToString(), warnings);
    }

    /// <summary>Applies <c>--cfg-options</c> items (mmcv's DictAction + merge_from_dict).</summary>
    public void MergeFromOptions(IEnumerable<string> items) => MergeFromDict(CfgOptions.Parse(items));

    /// <summary>mmcv's <c>merge_from_dict</c>: dotted keys, numeric segments index lists.</summary>
    public void MergeFromDict(ConfigDict options)
    {
        Dict = CfgOptions.Apply(Dict, options, Filename);
        Annotate(Dict, "", Filename);
    }

    /// <summary>The merged config as Python text that <see cref="PyConfigParser"/> reads back to an identical tree.</summary>
    public string DumpPython() => ConfigDumper.ToPython(Dict);

    public string DumpJson() => ConfigDumper.ToJson(Dict);

    private static ConfigDict Load(string file, StringBuilder text, List<string> warnings, Stack<string> chain, string? declaredBy)
    {
        if (!File.Exists(file))
        {
            string why = declaredBy is null
                ? $"config file not found: {file}"
                : $"base config not found: {file} (listed in _base_ of {declaredBy}; _base_ paths are relative to the file that declares them)";
            throw new DetSharpException(why);
        }
        if (chain.Contains(file))
            throw new DetSharpException($"_base_ cycle: {string.Join(" -> ", chain.Reverse().Append(file))}");
        chain.Push(file);
        try
        {
            string extension = Path.GetExtension(file).ToLowerInvariant();
            string source = File.ReadAllText(file);
            return extension switch
            {
                ".py" => LoadPython(file, source, text, warnings, chain),
                ".json" or ".yaml" or ".yml" => LoadData(file, source, extension, text, warnings, chain),
                _ => throw new DetSharpException($"{file}: unsupported config extension '{extension}'; use .py, .json, .yaml or .yml."),
            };
        }
        finally
        {
            chain.Pop();
        }
    }

    private static ConfigDict LoadPython(string file, string source, StringBuilder text, List<string> warnings, Stack<string> chain)
    {
        string substituted = SubstitutePredefinedVars(source, file);
        var baseVars = new Dictionary<string, string>(StringComparer.Ordinal);
        substituted = PreSubstituteBaseVars(substituted, baseVars);
        var own = PyConfigParser.Evaluate(substituted, file);
        return CombineWithBases(file, source, own, baseVars, text, warnings, chain);
    }

    private static ConfigDict LoadData(string file, string source, string extension, StringBuilder text, List<string> warnings, Stack<string> chain)
    {
        string substituted = SubstitutePredefinedVars(source, file);
        var baseVars = new Dictionary<string, string>(StringComparer.Ordinal);
        substituted = PreSubstituteBaseVars(substituted, baseVars);
        var own = extension == ".json" ? DataConfigReader.FromJson(substituted, file) : DataConfigReader.FromYaml(substituted, file);
        return CombineWithBases(file, source, own, baseVars, text, warnings, chain);
    }

    private static ConfigDict CombineWithBases(string file, string source, ConfigDict own, Dictionary<string, string> baseVars,
        StringBuilder text, List<string> warnings, Stack<string> chain)
    {
        if (own.TryGetValue(DeprecationKey, out var deprecation))
        {
            own.Remove(DeprecationKey);
            warnings.Add($"{file} is deprecated: {ConfigDumper.FormatInline(deprecation)}");
        }
        var baseFiles = new List<string>();
        if (own.TryGetValue(BaseKey, out var baseValue))
        {
            own.Remove(BaseKey);
            switch (baseValue)
            {
                case string single:
                    baseFiles.Add(single);
                    break;
                case ConfigList list when list.All(x => x is string):
                    baseFiles.AddRange(list.Cast<string>());
                    break;
                default:
                    throw new DetSharpException(
                        $"{file}: _base_ must be a string or a list of strings, got {ConfigValue.Describe(baseValue)}" +
                        (baseValue is ConfigTuple ? " (mmcv does not accept a tuple here: use [ ... ])" : "") + ".");
            }
        }

        var combined = new ConfigDict();
        var keyOwner = new Dictionary<string, string>(StringComparer.Ordinal);
        string dir = Path.GetDirectoryName(file)!;
        foreach (var baseFile in baseFiles)
        {
            string basePath = Path.GetFullPath(Path.Combine(dir, baseFile));
            var baseDict = Load(basePath, text, warnings, chain, declaredBy: file);
            foreach (var (key, value) in baseDict)
            {
                if (keyOwner.TryGetValue(key, out var other))
                    throw new DetSharpException(
                        $"{file}: duplicate key '{key}' among its _base_ files ({other} and {basePath}); " +
                        "mmcv does not allow the same top-level key in two sibling bases.");
                keyOwner[key] = basePath;
                combined[key] = value;
            }
        }
        text.Append(file).Append('\n').Append(source).Append('\n');

        if (baseVars.Count > 0)
            own = (ConfigDict)SubstituteBaseVars(own, baseVars, combined, file)!;
        return baseFiles.Count == 0 ? own : ConfigMerge.Merge(own, combined, file: file);
    }

    private static string SubstitutePredefinedVars(string source, string file)
    {
        string dirname = Path.GetDirectoryName(file)!.Replace('\\', '/');
        string basename = Path.GetFileName(file);
        var values = new Dictionary<string, string>
        {
            ["fileDirname"] = dirname,
            ["fileBasename"] = basename,
            ["fileBasenameNoExtension"] = Path.GetFileNameWithoutExtension(basename),
            ["fileExtname"] = Path.GetExtension(file),
        };
        return PredefinedVar().Replace(source, m => values[m.Groups[1].Value].Replace('\\', '/'));
    }

    private static string PreSubstituteBaseVars(string source, Dictionary<string, string> baseVars)
    {
        // As mmcv: each {{ _base_.a.b }} becomes a quoted placeholder string while the file is evaluated,
        // so it is only valid as a whole value; placeholders are replaced once the bases are loaded.
        return BaseVar().Replace(source, m =>
        {
            string path = m.Groups[1].Value;
            string placeholder = $"_{path}_{Convert.ToHexString(Guid.NewGuid().ToByteArray())[..6].ToLowerInvariant()}";
            baseVars[placeholder] = path;
            return $"\"{placeholder}\"";
        });
    }

    private static object? SubstituteBaseVars(object? value, Dictionary<string, string> baseVars, ConfigDict bases, string file)
    {
        switch (value)
        {
            case string s when baseVars.TryGetValue(s, out var path):
                object? current = bases;
                foreach (var part in path.Split('.'))
                {
                    current = current switch
                    {
                        ConfigDict d when d.TryGetValue(part, out var next) => next,
                        List<object?> l when int.TryParse(part, out int i) && i >= 0 && i < l.Count => l[i],
                        _ => throw new DetSharpException($"{file}: {{{{_base_.{path}}}}} refers to '{path}', which its _base_ files do not define."),
                    };
                }
                return ConfigValue.DeepClone(current);
            case ConfigDict dict:
                var copy = new ConfigDict();
                foreach (var (key, item) in dict) copy.Add(key, SubstituteBaseVars(item, baseVars, bases, file));
                return copy;
            case ConfigTuple tuple:
                return new ConfigTuple(tuple.Select(x => SubstituteBaseVars(x, baseVars, bases, file)));
            case ConfigList list:
                return new ConfigList(list.Select(x => SubstituteBaseVars(x, baseVars, bases, file)));
            default:
                return value;
        }
    }

    internal static void Annotate(ConfigDict dict, string path, string? file)
    {
        dict.Path = path;
        dict.SourceFile = file;
        foreach (var (key, value) in dict)
            AnnotateValue(value, path.Length == 0 ? key : $"{path}.{key}", file);
    }

    private static void AnnotateValue(object? value, string path, string? file)
    {
        switch (value)
        {
            case ConfigDict d:
                Annotate(d, path, file);
                break;
            case List<object?> list:
                for (int i = 0; i < list.Count; i++) AnnotateValue(list[i], $"{path}.{i}", file);
                break;
        }
    }

    [GeneratedRegex(@"\{\{\s*(fileDirname|fileBasename|fileBasenameNoExtension|fileExtname)\s*\}\}")]
    private static partial Regex PredefinedVar();

    [GeneratedRegex(@"\{\{\s*_base_\.([\w\.]+)\s*\}\}")]
    private static partial Regex BaseVar();
}
