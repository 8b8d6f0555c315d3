namespace DetSharp.Datasets.Transforms;

/// <summary>
/// A transform that mixes the sample with other images of the dataset (MMDetection's transforms with a
/// <c>get_indexes</c> method: Mosaic, MixUp). <see cref="MultiImageMixDataset"/> asks it which images to load, puts them in
/// <see cref="DetSample.MixResults"/> (<c>results['mix_results']</c>) and removes them after the transform ran.
/// </summary>
public interface IMixImageTransform : IPipelineTransform
{
    /// <summary>The dataset indices of the images to mix in, drawn with <paramref name="rng"/>.</summary>
    IReadOnlyList<int> GetIndexes(IDetDataset dataset, Random rng);
}
