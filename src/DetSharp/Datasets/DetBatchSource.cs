using DetSharp.Engine;

namespace DetSharp.Datasets;

/// <summary>
/// A dataset as the runner's loader (MMDetection's <c>build_dataloader</c>): the <see cref="DataLoader"/> (GroupSampler
/// when shuffling, <c>samples_per_gpu</c>, <c>workers_per_gpu</c>, seeded per epoch), whose workers also collate each batch;
/// <see cref="DetCollate.FromBatch"/> only wraps the padded images in a tensor. In a distributed run it loads rank
/// <paramref name="rank"/>'s share (MMDetection's DistributedGroupSampler / DistributedSampler).
/// </summary>
public sealed class DetBatchSource(IDetDataset dataset, int samplesPerGpu, int workersPerGpu, bool shuffle, int seed, int rank = 0, int worldSize = 1) : IBatchSource
{
    private readonly DataLoader _loader = new(dataset, samplesPerGpu, workersPerGpu, shuffle, seed, rank: rank, worldSize: worldSize);

    public IDetDataset Dataset { get; } = dataset;

    public int Count => _loader.BatchCount;

    public IReadOnlyList<string>? Classes => Dataset.Classes;

    public string DatasetName => Dataset.GetType().Name;

    public IEnumerable<IDataBatch> GetEpoch(int epoch)
    {
        foreach (var batch in _loader.Epoch(epoch))
        {
            DetDataBatch collated;
            try
            {
                collated = DetCollate.FromBatch(batch, withGt: !Dataset.TestMode, owner: batch);
            }
            catch
            {
                batch.Dispose();
                throw;
            }
            yield return collated;
        }
    }
}
