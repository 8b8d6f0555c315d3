using DetSharp.Config;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Engine;

/// <summary>
/// Mixed precision from the config: MMDetection's <c>fp16 = dict(loss_scale=512.)</c> (or <c>'dynamic'</c>, or a dict of
/// GradScaler arguments), which mmcv turns into <c>Fp16OptimizerHook</c> + <c>wrap_fp16_model</c>, and DetSharp's
/// <c>mixed_precision = dict(dtype='bfloat16')</c>. Forward passes run under autocast in <see cref="Dtype"/> (float32
/// master weights, float32 losses and reductions, BatchNorm statistics in float32); float16 also scales the loss
/// (<see cref="LossScale"/>, the <c>Fp16OptimizerHook</c>). On CPU float16 is slow and loses precision, so <c>fp16</c>
/// there runs bfloat16, which keeps float32's exponent range and needs no loss scaling: <c>loss_scale</c> is ignored
/// with one log line.
/// </summary>
/// <param name="Dtype">BFloat16 or Float16.</param>
/// <param name="LossScale">mmcv's <c>loss_scale</c> for float16 (see <see cref="GradScaler.FromLossScale"/>); null for bfloat16.</param>
public sealed record MixedPrecision(ScalarType Dtype, object? LossScale)
{
    /// <summary>mmcv's <c>Fp16OptimizerHook</c> default.</summary>
    public const double DefaultLossScale = 512.0;

    /// <summary>
    /// The config's mixed precision on <paramref name="device"/>, or null when it sets neither <c>fp16</c> nor
    /// <c>mixed_precision</c>; <paramref name="info"/> gets what was chosen (one line).
    /// </summary>
    public static MixedPrecision? FromConfig(Config.Config cfg, DeviceType device, Action<string>? info = null)
    {
        var fp16 = cfg.Get<ConfigDict?>("fp16", null);
        var mixed = cfg.Get<ConfigDict?>("mixed_precision", null);
        if (fp16 is not null && mixed is not null)
            throw new DetSharpException($"{cfg.Filename}: the config sets both fp16 and mixed_precision; keep one (fp16 = dict(loss_scale=...) as MMDetection, or mixed_precision = dict(dtype='bfloat16')).");
        if (fp16 is null && mixed is null) return null;
        var result = fp16 is not null ? FromFp16(fp16, device, info) : FromMixedPrecision(mixed!, device);
        if (result.Dtype == ScalarType.BFloat16 && device == DeviceType.CPU && !CpuHasBf16())
            info?.Invoke("mixed precision: this CPU has no AVX-512 BF16 or AMX instructions, so bfloat16 convolutions are emulated and likely slower than float32.");
        info?.Invoke(result.Dtype == ScalarType.BFloat16
            ? $"mixed precision: autocast to bfloat16 on {device} (float32 master weights and losses)"
            : $"mixed precision: autocast to float16 on {device} with loss scale {ConfigDumper.FormatInline(result.LossScale)} (Fp16OptimizerHook)");
        return result;
    }

    private static MixedPrecision FromFp16(ConfigDict fp16, DeviceType device, Action<string>? info)
    {
        foreach (var key in fp16.Keys)
            if (key != "loss_scale")
                throw new DetSharpException($"fp16: unexpected key '{key}'; it accepts loss_scale (a number, 'dynamic' or a dict of GradScaler arguments).");
        object lossScale = fp16.TryGetValue("loss_scale", out var s) && s is not null ? s : DefaultLossScale;
        _ = GradScaler.FromLossScale(lossScale, "fp16");
        if (device == DeviceType.CUDA) return new MixedPrecision(ScalarType.Float16, lossScale);
        info?.Invoke($"fp16: on {device} mixed precision runs in bfloat16, which has float32's exponent range: loss_scale={ConfigDumper.FormatInline(lossScale)} is not needed and ignored.");
        return new MixedPrecision(ScalarType.BFloat16, null);
    }

    private static MixedPrecision FromMixedPrecision(ConfigDict mixed, DeviceType device)
    {
        foreach (var key in mixed.Keys)
            if (key is not ("dtype" or "loss_scale"))
                throw new DetSharpException($"mixed_precision: unexpected key '{key}'; it accepts dtype ('bfloat16' or 'float16') and loss_scale (float16 only).");
        string dtype = mixed.Get("dtype", "bfloat16");
        switch (dtype)
        {
            case "bfloat16":
                if (mixed.ContainsKey("loss_scale"))
                    throw new DetSharpException("mixed_precision: loss_scale applies to dtype='float16' only; bfloat16 needs no loss scaling, remove it.");
                return new MixedPrecision(ScalarType.BFloat16, null);
            case "float16":
                if (device != DeviceType.CUDA)
                    throw new DetSharpException($"mixed_precision: dtype='float16' runs on CUDA only; on {device} use dtype='bfloat16' (float16 is slow and lossy there).");
                object lossScale = mixed.TryGetValue("loss_scale", out var s) && s is not null ? s : DefaultLossScale;
                _ = GradScaler.FromLossScale(lossScale, "mixed_precision");
                return new MixedPrecision(ScalarType.Float16, lossScale);
            default:
                throw new DetSharpException($"mixed_precision: dtype '{dtype}' is not supported; use 'bfloat16' (CPU or CUDA) or 'float16' (CUDA).");
        }
    }

    /// <summary>Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX), from Linux's /proc/cpuinfo; true where that cannot be read.</summary>
    private static bool CpuHasBf16()
    {
        if (!File.Exists("/proc/cpuinfo")) return true;
        string flags = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal)) ?? "";
        return flags.Contains(" avx512_bf16", StringComparison.Ordinal) || flags.Contains(" amx_bf16", StringComparison.Ordinal);
    }
}
