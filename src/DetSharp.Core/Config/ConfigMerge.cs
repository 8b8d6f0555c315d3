namespace DetSharp.Config;

/// <summary>mmcv's <c>Config._merge_a_into_b</c>: how a child config (or <c>--cfg-options</c>) overrides a base.</summary>
public static class ConfigMerge
{
    public const string DeleteKey = "_delete_";

    /// <summary>
    /// Merges <paramref name="child"/> into a copy of <paramref name="baseDict"/>: dicts merge recursively unless the
    /// child dict carries <c>_delete_=True</c> (then it replaces the base value); every other value replaces wholesale.
    /// With <paramref name="allowListKeys"/> (used by <c>--cfg-options</c>) a numeric key indexes a list.
    /// </summary>
    public static ConfigDict Merge(ConfigDict child, ConfigDict baseDict, bool allowListKeys = false, string path = "", string? file = null) =>
        (ConfigDict)MergeInto(child, baseDict, allowListKeys, path, file);

    private static object MergeInto(ConfigDict a, object b, bool allowListKeys, string path, string? file)
    {
        var result = b switch
        {
            ConfigDict d => ShallowCopy(d),
            ConfigTuple t => (object)new ConfigTuple(t),
            ConfigList l => new ConfigList(l),
            _ => throw new InvalidOperationException("merge target must be a dict or list"),
        };
        foreach (var (key, value) in a)
        {
            string keyPath = path.Length == 0 ? key : $"{path}.{key}";
            if (allowListKeys && result is List<object?> list && IsDigits(key))
            {
                int index = int.Parse(key, System.Globalization.CultureInfo.InvariantCulture);
                if (index >= list.Count)
                    throw new DetSharpException($"cannot set '{keyPath}': index {index} exceeds the length of the list at '{path}' ({list.Count} elements).");
                list[index] = value is ConfigDict sub && list[index] is ConfigDict or List<object?>
                    ? MergeInto(sub, list[index]!, allowListKeys, keyPath, file)
                    : value;
                continue;
            }
            if (result is not ConfigDict target)
                throw new DetSharpException($"cannot set '{keyPath}': '{path}' is a list; index it with a number (e.g. '{path}.0').");
            if (value is ConfigDict childDict)
            {
                if (target.TryGetValue(key, out var existing) && !PopDelete(childDict))
                {
                    bool mergeable = existing is ConfigDict || (allowListKeys && existing is List<object?>);
                    if (!mergeable)
                        throw new DetSharpException(
                            $"{(file is null ? "" : file + ": ")}'{keyPath}' is a dict in the child config but {ConfigValue.Describe(existing)} in its base; " +
                            $"add `_delete_=True` to the child dict to replace the base value instead of merging into it.");
                    target[key] = MergeInto(childDict, existing!, allowListKeys, keyPath, file);
                }
                else
                {
                    target[key] = childDict;
                }
            }
            else
            {
                target[key] = value;
            }
        }
        return result;
    }

    /// <summary>Removes <c>_delete_</c> from the dict and reports whether it was true (mmcv pops it only on merge).</summary>
    private static bool PopDelete(ConfigDict dict)
    {
        if (!dict.TryGetValue(DeleteKey, out var flag)) return false;
        dict.Remove(DeleteKey);
        return flag is true || (flag is long l && l != 0);
    }

    private static ConfigDict ShallowCopy(ConfigDict source)
    {
        var copy = new ConfigDict { Path = source.Path, SourceFile = source.SourceFile };
        foreach (var (key, value) in source) copy.Add(key, value);
        return copy;
    }

    private static bool IsDigits(string key)
    {
        if (key.Length == 0) return false;
        foreach (char c in key)
            if (c is < '0' or > '9') return false;
        return true;
    }
}
