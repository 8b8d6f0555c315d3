namespace DetSharp.Engine;

/// <summary>
/// Implemented by a dataset built from <c>data.train</c> / <c>data.val</c> (through the DATASETS registry) so that
/// <c>detsharp train</c> can make its loader: MMDetection's <c>build_dataloader(dataset, samples_per_gpu, workers_per_gpu,
/// shuffle, seed)</c> (GroupSampler when shuffling). A dataset may instead implement <see cref="IBatchSource"/> itself.
/// </summary>
public interface IBatchSourceFactory
{
    IBatchSource CreateLoader(int samplesPerGpu, int workersPerGpu, bool shuffle, int seed);
}
