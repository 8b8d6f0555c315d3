namespace DetSharp.Datasets;

/// <summary>What the loader, wrappers and tools need from a dataset (MMDetection's dataset protocol).</summary>
public interface IDetDataset
{
    int Count { get; }

    /// <summary>The class names (<c>CLASSES</c>); label i is <c>Classes[i]</c>.</summary>
    IReadOnlyList<string> Classes { get; }

    /// <summary>Aspect-ratio group per index: 1 when width / height &gt; 1, else 0.</summary>
    IReadOnlyList<byte> Flags { get; }

    bool TestMode { get; }

    /// <summary>
    /// <c>dataset[index]</c>: the pipeline's output. In training a sample the pipeline drops is replaced by a random image
    /// of the same aspect group (drawn with <paramref name="rng"/>), as MMDetection does.
    /// </summary>
    DetSample GetItem(int index, Random rng);

    /// <summary>One pipeline run without retry (null when a transform dropped the sample).</summary>
    DetSample? Prepare(int index, Random rng);

    /// <summary>The category ids of the annotations of image <paramref name="index"/> (<c>get_cat_ids</c>).</summary>
    IReadOnlyList<long> GetCatIds(int index);

    /// <summary>The annotations of image <paramref name="index"/> without loading it (<c>get_ann_info</c>; MixUp's choice of image).</summary>
    AnnInfo GetAnnInfo(int index);

    /// <summary>Load-time notes: skipped annotations and records, with counts and examples.</summary>
    IReadOnlyList<string> Warnings { get; }
}
