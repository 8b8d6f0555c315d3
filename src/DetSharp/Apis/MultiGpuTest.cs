using DetSharp.Datasets;
using DetSharp.Distributed;
using DetSharp.Structures;

namespace DetSharp.Apis;

/// <summary>
/// MMDetection's <c>multi_gpu_test</c> with <c>collect_results_cpu</c>: each rank runs its share of the test set through
/// its own backend, the libtorch model or an ONNX Runtime session (<see cref="DistributedSampler.SequentialIndices"/>:
/// rank r takes images r, r + world, ...), the per-image results travel to rank 0 as bytes, and rank 0 puts them back in dataset order and drops the padding. With one process it is
/// <see cref="Inference.RunDataset"/>.
/// </summary>
public static class MultiGpuTest
{
    /// <summary>
    /// The results in dataset order on rank 0 (null on the other ranks); <paramref name="onResult"/> gets this rank's
    /// dataset indices and results as they are done.
    /// </summary>
    public static List<DetectionSet>? Run(IInferenceBackend backend, IDetDataset dataset, IProcessGroup group, IReadOnlyList<string>? classNames = null,
        Action<int, DetectionSet>? onResult = null, CancellationToken cancellationToken = default)
    {
        if (!group.IsDistributed) return Inference.RunDataset(backend, dataset, classNames, onResult, cancellationToken: cancellationToken);
        var mine = DistributedSampler.SequentialIndices(dataset.Count, group.Rank, group.WorldSize);
        var results = Inference.RunDataset(backend, dataset, classNames, onResult, mine, cancellationToken);
        var parts = group.AllGather(Encode(results));
        if (group.Rank != 0) return null;
        var decoded = parts.Select(Decode).ToList();
        var ordered = new List<DetectionSet>(dataset.Count);
        // collect_results_cpu: zip(*part_list), then the padding at the end cut off.
        for (int k = 0; k < mine.Length && ordered.Count < dataset.Count; k++)
            for (int r = 0; r < decoded.Count && ordered.Count < dataset.Count; r++)
                ordered.Add(decoded[r][k]);
        return ordered;
    }

    /// <summary>The results as bytes (collect_results_cpu's pickle): every field, so that decoding gives them back exactly.</summary>
    public static byte[] Encode(IReadOnlyList<DetectionSet> results)
    {
        using var stream = new MemoryStream();
        using (var w = new BinaryWriter(stream))
        {
            w.Write(results.Count);
            foreach (var set in results)
            {
                w.Write(set.Source is not null);
                if (set.Source is not null) w.Write(set.Source);
                w.Write(set.Height);
                w.Write(set.Width);
                w.Write(set.HasMasks);
                w.Write(set.Detections.Count);
                foreach (var d in set.Detections)
                {
                    w.Write(d.X1); w.Write(d.Y1); w.Write(d.X2); w.Write(d.Y2); w.Write(d.Score);
                    w.Write(d.Label);
                    w.Write(d.ClassName);
                    w.Write(d.MaskScore.HasValue);
                    if (d.MaskScore is { } ms) w.Write(ms);
                    w.Write(d.Mask is not null);
                    if (d.Mask is not { } m) continue;
                    w.Write(m.Height);
                    w.Write(m.Width);
                    w.Write(m.Counts.Length);
                    foreach (uint c in m.Counts) w.Write(c);
                }
            }
        }
        return stream.ToArray();
    }

    public static List<DetectionSet> Decode(byte[] blob)
    {
        using var r = new BinaryReader(new MemoryStream(blob));
        int count = r.ReadInt32();
        var results = new List<DetectionSet>(count);
        for (int i = 0; i < count; i++)
        {
            string? source = r.ReadBoolean() ? r.ReadString() : null;
            int height = r.ReadInt32(), width = r.ReadInt32();
            bool hasMasks = r.ReadBoolean();
            int n = r.ReadInt32();
            var detections = new List<Detection>(n);
            for (int j = 0; j < n; j++)
            {
                float x1 = r.ReadSingle(), y1 = r.ReadSingle(), x2 = r.ReadSingle(), y2 = r.ReadSingle(), score = r.ReadSingle();
                int label = r.ReadInt32();
                string name = r.ReadString();
                float? maskScore = r.ReadBoolean() ? r.ReadSingle() : null;
                Rle? mask = null;
                if (r.ReadBoolean())
                {
                    int mh = r.ReadInt32(), mw = r.ReadInt32();
                    var counts = new uint[r.ReadInt32()];
                    for (int c = 0; c < counts.Length; c++) counts[c] = r.ReadUInt32();
                    mask = new Rle(mh, mw, counts);
                }
                detections.Add(new Detection(x1, y1, x2, y2, score, label, name, mask) { MaskScore = maskScore });
            }
            results.Add(new DetectionSet(source, height, width, detections) { HasMasks = hasMasks });
        }
        return results;
    }
}
