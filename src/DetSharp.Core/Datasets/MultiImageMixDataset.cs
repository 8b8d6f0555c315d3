using DetSharp.Config;
using DetSharp.Datasets.Transforms;
using DetSharp.Registry;

namespace DetSharp.Datasets;

/// <summary>
/// MMDetection's <c>MultiImageMixDataset</c> (YOLOX's training wrapper): each item is the inner dataset's item run through
/// the wrapper's own <c>pipeline</c>. A transform that mixes images (<see cref="IMixImageTransform"/>: Mosaic, MixUp) first
/// picks its other images (<c>get_indexes</c>), which are loaded from the inner dataset and handed over as
/// <see cref="DetSample.MixResults"/>; a transform that drops the sample is rerun on the sample as it was, up to
/// <c>max_refetch</c> times. Transforms whose type is in <c>skip_type_keys</c> are skipped; <see cref="UpdateSkipTypeKeys"/>
/// changes that list while training (YOLOXModeSwitchHook turns Mosaic and MixUp off for the last epochs). The loader's
/// workers are threads over this same object and read the list at each item, so a change reaches the batches made after it
/// (MMDetection restarts its persistent worker processes for the same effect).
/// </summary>
public sealed class MultiImageMixDataset : IDetDataset, ISkipTypeKeysDataset
{
    private readonly IPipelineTransform[] _pipeline;
    private readonly string[] _types;
    private volatile string[] _skipTypeKeys;

    public MultiImageMixDataset(IDetDataset dataset, IReadOnlyList<object?> pipeline, object? dynamicScale = null,
        IReadOnlyList<string>? skipTypeKeys = null, int maxRefetch = 15)
    {
        if (dynamicScale is not null)
            throw new DetSharpException("MultiImageMixDataset: dynamic_scale is deprecated (as in MMDetection 2.28); remove it and set the scale in the pipeline's Resize.");
        if (maxRefetch < 1) throw new DetSharpException($"MultiImageMixDataset: max_refetch must be at least 1, got {maxRefetch}.");
        ComponentRegistration.EnsureRegistered();
        _pipeline = new IPipelineTransform[pipeline.Count];
        _types = new string[pipeline.Count];
        for (int i = 0; i < pipeline.Count; i++)
        {
            if (pipeline[i] is not ConfigDict cfg || !cfg.TryGetValue("type", out var type) || type is not string name)
                throw new DetSharpException($"MultiImageMixDataset: pipeline[{i}] must be a transform dict with a 'type', got {ConfigValue.Describe(pipeline[i])}.");
            _types[i] = name;
            _pipeline[i] = Registries.Pipelines.Build<IPipelineTransform>(cfg);
        }
        Dataset = dataset;
        MaxRefetch = maxRefetch;
        _skipTypeKeys = skipTypeKeys?.ToArray() ?? [];
    }

    public IDetDataset Dataset { get; }
    public int MaxRefetch { get; }

    /// <summary>The transform types skipped now.</summary>
    public IReadOnlyList<string> SkipTypeKeys => _skipTypeKeys;

    /// <summary>mmdet's <c>update_skip_type_keys</c>: from the next item on, the transforms of these types are skipped.</summary>
    public void UpdateSkipTypeKeys(IReadOnlyList<string> skipTypeKeys)
    {
        ArgumentNullException.ThrowIfNull(skipTypeKeys);
        _skipTypeKeys = [.. skipTypeKeys];
    }

    public int Count => Dataset.Count;
    public IReadOnlyList<string> Classes => Dataset.Classes;
    public IReadOnlyList<byte> Flags => Dataset.Flags;
    public bool TestMode => Dataset.TestMode;
    public IReadOnlyList<string> Warnings => Dataset.Warnings;
    public IReadOnlyList<long> GetCatIds(int index) => Dataset.GetCatIds(index);
    public AnnInfo GetAnnInfo(int index) => Dataset.GetAnnInfo(index);

    /// <summary>The wrapper never drops an item (it refetches), so one run is the item.</summary>
    public DetSample? Prepare(int index, Random rng) => GetItem(index, rng);

    public DetSample GetItem(int index, Random rng)
    {
        var skip = _skipTypeKeys;
        var results = Dataset.GetItem(index, rng);
        try
        {
            for (int t = 0; t < _pipeline.Length; t++)
            {
                if (Array.IndexOf(skip, _types[t]) >= 0) continue;
                var transform = _pipeline[t];
                if (transform is IMixImageTransform mixer)
                    results.MixResults = mixer.GetIndexes(Dataset, rng).Select(i => Dataset.GetItem(i, rng)).ToArray();
                try
                {
                    results = RunWithRefetch(transform, _types[t], results, rng);
                }
                finally
                {
                    if (results.MixResults is { } mixed)
                        foreach (var m in mixed) m.Dispose();
                    results.MixResults = null;
                }
            }
            return results;
        }
        catch
        {
            results.Dispose();
            throw;
        }
    }

    /// <summary>Runs the transform on a copy of the sample until it returns one, as mmdet's <c>transform(copy.deepcopy(results))</c> loop.</summary>
    private DetSample RunWithRefetch(IPipelineTransform transform, string type, DetSample results, Random rng)
    {
        for (int attempt = 0; attempt < MaxRefetch; attempt++)
        {
            var copy = results.ShallowCopy();
            DetSample? updated;
            try
            {
                updated = transform.Apply(copy, rng);
            }
            catch
            {
                copy.Dispose();
                throw;
            }
            if (updated is null)
            {
                copy.Dispose();
                continue;
            }
            if (!ReferenceEquals(updated, copy)) copy.Dispose();
            updated.MixResults = results.MixResults;
            results.MixResults = null;
            results.Dispose();
            return updated;
        }
        throw new DetSharpException(
            $"MultiImageMixDataset: {type} dropped the sample {MaxRefetch} times in a row (max_refetch); check its settings " +
            "(e.g. FilterAnnotations(keep_empty=True) drops images left without boxes) or raise max_refetch.");
    }
}
