using static TorchSharp.torch;

namespace DetSharp.Utils;

/// <summary>
/// PyTorch's <c>torch.channels_last</c> memory format, which TorchSharp 0.107 does not expose: a 4-D tensor keeps its
/// [N, C, H, W] shape and values with NHWC strides, oneDNN's native layout, so that a convolution on the CPU needs no
/// reorder of its input, weight and output.
/// </summary>
public static class ChannelsLast
{
    /// <summary>
    /// DetSharp's config key (default true): the backbone and neck in channels-last memory format on the CPU
    /// (<see cref="Models.Detectors.BaseDetector.UseChannelsLast"/>), for training and inference alike.
    /// </summary>
    public const string ConfigKey = "channels_last";

    /// <summary>Whether <paramref name="cfg"/> leaves channels-last on (<see cref="ConfigKey"/> not set to False).</summary>
    public static bool Enabled(Config.Config cfg) => cfg.Get(ConfigKey, true);

    /// <summary><c>x.contiguous(memory_format=torch.channels_last)</c> of a 4-D tensor (no copy when it already is).</summary>
    public static Tensor Contiguous(Tensor x)
    {
        if (x.dim() != 4) throw new ArgumentException($"channels-last is a layout of 4-D tensors, got {x.dim()}-D.", nameof(x));
        using var nhwc = x.permute(0, 2, 3, 1);
        using var dense = nhwc.contiguous();
        return dense.permute(0, 3, 1, 2);
    }

    /// <summary><c>x.is_contiguous(memory_format=torch.channels_last)</c> (for tensors whose dimensions exceed 1).</summary>
    public static bool Is(Tensor x)
    {
        if (x.dim() != 4) return false;
        long[] s = x.stride();
        long[] n = x.shape;
        return s[1] == 1 && s[3] == n[1] && s[2] == n[1] * n[3] && s[0] == n[1] * n[2] * n[3];
    }
}
