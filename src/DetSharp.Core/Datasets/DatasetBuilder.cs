using DetSharp.Config;
using DetSharp.Registry;

namespace DetSharp.Datasets;

/// <summary>
/// MMDetection's <c>build_dataset</c>: a list of configs → ConcatDataset; <c>ConcatDataset</c> / <c>RepeatDataset</c> /
/// <c>ClassBalancedDataset</c> / <c>MultiImageMixDataset</c> wrap datasets built from their inner configs (default args such as test_mode reach the
/// inner ones); a list-valued <c>ann_file</c> → one dataset per file, concatenated; everything else from the registry.
/// </summary>
public static class DatasetBuilder
{
    private static readonly HashSet<string> Wrappers = ["ConcatDataset", "RepeatDataset", "ClassBalancedDataset", "MultiImageMixDataset"];

    public static IDetDataset Build(object? cfg, IReadOnlyDictionary<string, object?>? defaults = null)
    {
        ComponentRegistration.EnsureRegistered();
        switch (cfg)
        {
            case List<object?> list:
                return new ConcatDataset(list.Select(c => Build(c, defaults)).ToList());
            case ConfigDict dict:
                string type = dict.TryGetValue("type", out var t) && t is string s ? s : "";
                string where = Where(dict);
                if (Wrappers.Contains(type))
                {
                    if (dict.ContainsKey("classes"))
                    {
                        string inner = type == "ConcatDataset" ? "each of 'datasets'" : $"'{(dict.Path.Length == 0 ? "" : dict.Path + ".")}dataset'";
                        throw new DetSharpException(
                            $"{where}: 'classes' is set on the {type} wrapper, which does not take it; put classes in {inner} " +
                            $"(e.g. data.train.dataset.classes=(...)), the dataset that reads the annotations.");
                    }
                    switch (type)
                    {
                        case "RepeatDataset":
                            CheckKeys(dict, where, type, "dataset", "times");
                            return new RepeatDataset(Build(Required(dict, "dataset", where), defaults), dict.Get<int>("times"));
                        case "MultiImageMixDataset":
                            CheckKeys(dict, where, type, "dataset", "pipeline", "dynamic_scale", "skip_type_keys", "max_refetch");
                            if (Required(dict, "pipeline", where) is not List<object?> pipeline)
                                throw new DetSharpException($"{where}: MultiImageMixDataset's 'pipeline' must be a list of transform dicts.");
                            return new MultiImageMixDataset(Build(Required(dict, "dataset", where), defaults), pipeline,
                                dict.TryGetValue("dynamic_scale", out var scale) ? scale : null,
                                dict.TryGetValue("skip_type_keys", out var skip) && skip is not null ? Transforms.TransformArgs.Strings(skip, $"{where}: skip_type_keys") : null,
                                dict.Get("max_refetch", 15));
                        case "ClassBalancedDataset":
                            CheckKeys(dict, where, type, "dataset", "oversample_thr", "filter_empty_gt");
                            return new ClassBalancedDataset(Build(Required(dict, "dataset", where), defaults), dict.Get<double>("oversample_thr"),
                                dict.Get("filter_empty_gt", true));
                        default:
                            CheckKeys(dict, where, type, "datasets", "separate_eval");
                            if (Required(dict, "datasets", where) is not List<object?> parts)
                                throw new DetSharpException($"{where}: ConcatDataset's 'datasets' must be a list of dataset configs.");
                            return new ConcatDataset(parts.Select(c => Build(c, defaults)).ToList(), dict.Get("separate_eval", true));
                    }
                }
                if (dict.TryGetValue("ann_file", out var annFile) && annFile is List<object?> files)
                    return ConcatAnnFiles(dict, files, defaults);
                return Registries.Datasets.Build<IDetDataset>(dict, defaults);
            default:
                throw new DetSharpException($"a dataset config must be a dict (or a list of dicts), got {ConfigValue.Describe(cfg)}.");
        }
    }

    private static IDetDataset ConcatAnnFiles(ConfigDict cfg, List<object?> files, IReadOnlyDictionary<string, object?>? defaults)
    {
        var parts = new List<IDetDataset>();
        bool separateEval = cfg.Get("separate_eval", true);
        for (int i = 0; i < files.Count; i++)
        {
            var copy = cfg.Clone();
            copy.Remove("separate_eval");
            copy["ann_file"] = files[i];
            foreach (var key in new[] { "img_prefix", "seg_prefix", "proposal_file" })
                if (copy.TryGetValue(key, out var v) && v is List<object?> values)
                    copy[key] = i < values.Count ? values[i] : null;
            parts.Add(Build(copy, defaults));
        }
        return new ConcatDataset(parts, separateEval);
    }

    private static object? Required(ConfigDict dict, string key, string where) =>
        dict.TryGetValue(key, out var v) ? v : throw new DetSharpException($"{where}: {dict["type"]} needs '{key}'.");

    private static void CheckKeys(ConfigDict dict, string where, string type, params string[] allowed)
    {
        foreach (var key in dict.Keys)
            if (key != "type" && Array.IndexOf(allowed, key) < 0)
                throw new DetSharpException($"{where}: {type} got an unexpected argument '{key}'. It accepts: {string.Join(", ", allowed)}.");
    }

    private static string Where(ConfigDict cfg)
    {
        string path = cfg.Path.Length == 0 ? "dataset config" : $"'{cfg.Path}'";
        return cfg.SourceFile is null ? path : $"{cfg.SourceFile}: {path}";
    }
}
