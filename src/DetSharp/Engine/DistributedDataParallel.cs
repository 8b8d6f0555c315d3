using System.Runtime.InteropServices;
using DetSharp.Distributed;
using static TorchSharp.torch;

namespace DetSharp.Engine;

/// <summary>
/// mmcv's <c>MMDistributedDataParallel</c> over an <see cref="IProcessGroup"/>: rank 0's parameters and buffers copied to
/// every rank at the start (<see cref="BroadcastState"/>), and after each backward the gradients summed over the ranks
/// in buckets of about 25 MB (DDP's <c>bucket_cap_mb</c>) and divided by the world size (<see cref="AverageGradients"/>),
/// so every rank steps its optimizer with the same gradient. The reduction follows the backward instead of overlapping
/// with it: TorchSharp offers no per-parameter gradient hooks to start a bucket while backward still runs.
/// Collectives go through host memory, so a CUDA tensor is copied to the CPU and back.
/// </summary>
public static class DistributedDataParallel
{
    /// <summary>DDP's default bucket size.</summary>
    public const long BucketBytes = 25L * 1024 * 1024;

    /// <summary>Every parameter and buffer of <paramref name="module"/> (its state dict) set to rank 0's values.</summary>
    public static void BroadcastState(nn.Module module, IProcessGroup group)
    {
        if (!group.IsDistributed) return;
        using var noGrad = no_grad();
        foreach (var (_, tensor) in module.state_dict())
        {
            using var scope = NewDisposeScope();
            bool inPlace = tensor.device_type == TorchSharp.DeviceType.CPU && tensor.is_contiguous();
            var host = inPlace ? tensor : tensor.contiguous().cpu();
            group.Broadcast(host.bytes);
            if (!inPlace) tensor.copy_(host);
        }
    }

    /// <summary>
    /// The mean over the ranks of every trainable parameter's gradient, in place. A parameter that got no gradient on some
    /// ranks (a branch unused for their images) counts zeros there; one that got none on any rank keeps none, so the
    /// optimizer skips it as it would in a single process.
    /// </summary>
    public static void AverageGradients(nn.Module module, IProcessGroup group)
    {
        if (!group.IsDistributed) return;
        var parameters = module.parameters().Where(p => p.requires_grad).ToList();
        var present = new float[parameters.Count];
        for (int i = 0; i < parameters.Count; i++) present[i] = parameters[i].grad is null ? 0 : 1;
        group.AllReduceSum(present);
        var used = new List<Tensor>();
        for (int i = 0; i < parameters.Count; i++)
        {
            if (present[i] == 0) continue;
            // Zeros where this rank has no gradient: backward of 0 × Σp gives the leaf a zero gradient of its own shape.
            if (parameters[i].grad is null)
                using (var scope = NewDisposeScope()) parameters[i].sum().mul(0).backward();
            used.Add(parameters[i]);
        }
        float scale = 1f / group.WorldSize;
        int start = 0;
        while (start < used.Count)
        {
            int end = start;
            long bytes = 0;
            while (end < used.Count && (end == start || bytes + used[end].numel() * 4 <= BucketBytes)) bytes += used[end++].numel() * 4;
            ReduceBucket(used.GetRange(start, end - start), group, scale);
            start = end;
        }
    }

    private static void ReduceBucket(List<Tensor> bucket, IProcessGroup group, float scale)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var grads = bucket.Select(p => p.grad!).ToList();
        var flat = cat(grads.Select(g => g.detach().flatten().to(ScalarType.Float32, CPU)).ToList()).contiguous();
        group.AllReduceSum(MemoryMarshal.Cast<byte, float>(flat.bytes));
        flat.mul_(scale);
        long offset = 0;
        foreach (var g in grads)
        {
            long n = g.numel();
            g.copy_(flat.narrow(0, offset, n).view(g.shape));
            offset += n;
        }
    }
}
