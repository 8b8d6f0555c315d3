using DetSharp.Config;

namespace DetSharp.Config;

/// <summary>
/// A pre-flight check of a detector's config, as <see cref="Datasets.NumClassCheck"/> is for classes: the channels that flow from
/// the neck into the heads must agree. A mismatch builds without complaint and fails only in the first forward pass — a
/// <c>SingleRoIExtractor</c> whose <c>out_channels</c> differs from the neck's ends in libtorch's <c>index_put_</c> shape
/// error with a dozen native frames. Checked from the config (keys that are set), before anything is built.
/// </summary>
public static class ModelChannelCheck
{
    /// <summary>Throws naming the keys that disagree; does nothing for dicts that are not a detector with a neck.</summary>
    public static void Check(ConfigDict model)
    {
        if (!model.TryGetValue("neck", out var n) || n is not ConfigDict neck || Channels(neck, "out_channels") is not { } neckChannels)
            return;
        string root = model.Path.Length > 0 ? model.Path : "model";
        string neckKey = $"{root}.neck.out_channels";
        var problems = new List<string>();
        void Expect(ConfigDict part, string partKey, string key, long expected, string expectedKey)
        {
            if (Channels(part, key) is { } actual && actual != expected)
                problems.Add($"{root}.{partKey}.{key} ({actual}) differs from {expectedKey} ({expected})");
        }
        if (model.TryGetValue("rpn_head", out var r) && r is ConfigDict rpn)
            Expect(rpn, "rpn_head", "in_channels", neckChannels, neckKey);
        // A one-stage detector's dense head sits directly on the neck.
        if (model.TryGetValue("bbox_head", out var d) && d is ConfigDict dense)
            Expect(dense, "bbox_head", "in_channels", neckChannels, neckKey);
        if (model.TryGetValue("roi_head", out var h) && h is ConfigDict roi)
        {
            var bboxExtractors = Stages(roi, "bbox_roi_extractor");
            foreach (var (extractor, key) in bboxExtractors)
                Expect(extractor, $"roi_head.{key}", "out_channels", neckChannels, neckKey);
            var maskExtractors = roi.Get("share_roi_extractor", false) ? bboxExtractors : Stages(roi, "mask_roi_extractor");
            foreach (var (extractor, key) in maskExtractors)
                Expect(extractor, $"roi_head.{key}", "out_channels", neckChannels, neckKey);
            CheckHeads(roi, "bbox_head", bboxExtractors, root, Expect);
            CheckHeads(roi, "mask_head", maskExtractors, root, Expect);
        }
        if (problems.Count > 0)
            throw new DetSharpException(
                $"{(model.SourceFile is { } file ? file + ": " : "")}the model's channels do not fit together: {string.Join("; ", problems)}. "
                + $"The heads and RoI extractors take the neck's {neckChannels}-channel features, and each head must take what feeds it: "
                + $"set them equal, e.g. --cfg-options {Example(model, root, neckChannels)}.");
    }

    private static string Example(ConfigDict model, string root, long channels) =>
        model.ContainsKey("roi_head") ? $"{root}.roi_head.bbox_roi_extractor.out_channels={channels}" : $"{root}.bbox_head.in_channels={channels}";

    /// <summary>A head (or the cascade's list of heads) must take the channels of its extractor (stage for stage when both are lists).</summary>
    private static void CheckHeads(ConfigDict roi, string name, List<(ConfigDict Dict, string Key)> extractors, string root,
        Action<ConfigDict, string, string, long, string> expect)
    {
        var heads = Stages(roi, name);
        for (int i = 0; i < heads.Count; i++)
        {
            var (extractor, extractorKey) = extractors.Count == 0 ? (null, "") : extractors[Math.Min(i, extractors.Count - 1)];
            if (extractor is not null && Channels(extractor, "out_channels") is { } channels)
                expect(heads[i].Dict, $"roi_head.{heads[i].Key}", "in_channels", channels, $"{root}.roi_head.{extractorKey}.out_channels");
        }
    }

    /// <summary>A roi_head part given as one dict or as a list of per-stage dicts (Cascade R-CNN), with its key path.</summary>
    private static List<(ConfigDict Dict, string Key)> Stages(ConfigDict roi, string name)
    {
        var stages = new List<(ConfigDict, string)>();
        if (!roi.TryGetValue(name, out var value)) return stages;
        if (value is ConfigDict single) stages.Add((single, name));
        else if (value is List<object?> list)
            for (int i = 0; i < list.Count; i++)
                if (list[i] is ConfigDict stage) stages.Add((stage, $"{name}.{i}"));
        return stages;
    }

    private static long? Channels(ConfigDict dict, string key) => dict.TryGetValue(key, out var v) && v is long channels ? channels : null;
}
