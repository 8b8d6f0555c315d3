using DetSharp.Config;
using DetSharp.Models.Losses;
using DetSharp.Models.TaskModules;
using DetSharp.Ops;
using DetSharp.Registry;

namespace DetSharp.Models.Common;

/// <summary>Builds the sub-components that heads and detectors take as config dicts.</summary>
public static class Builders
{
    public static LossBase Loss(ConfigDict cfg)
    {
        ComponentRegistration.EnsureRegistered();
        return Registries.Models.Build<LossBase>(cfg);
    }

    public static T TaskModule<T>(ConfigDict cfg)
    {
        ComponentRegistration.EnsureRegistered();
        return Registries.TaskModules.Build<T>(cfg);
    }

    public static T Model<T>(ConfigDict cfg)
    {
        ComponentRegistration.EnsureRegistered();
        return Registries.Models.Build<T>(cfg);
    }

    /// <summary>An <c>nms</c> dict as the ops take it; a wrong type or key is reported with the dict's config path.</summary>
    public static NmsConfig Nms(ConfigDict cfg)
    {
        try
        {
            return NmsConfig.FromDictionary(cfg.ToDictionary(kv => kv.Key, kv => kv.Value));
        }
        catch (ArgumentException e)
        {
            string where = cfg.Path.Length == 0 ? "nms" : cfg.Path;
            throw new DetSharpException($"'{where}'{(cfg.SourceFile is null ? "" : $" in {cfg.SourceFile}")}: {e.Message}");
        }
    }

    /// <summary>A config dict copy with some keys set (Python's <c>dict.update</c> on a copy).</summary>
    public static ConfigDict With(ConfigDict cfg, params (string Key, object? Value)[] items)
    {
        var copy = cfg.Clone();
        foreach (var (k, v) in items) copy[k] = v;
        return copy;
    }
}
