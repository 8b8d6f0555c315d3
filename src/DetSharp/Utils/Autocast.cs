using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Utils;

/// <summary>
/// PyTorch's <c>torch.autocast(device_type, dtype)</c>: inside the region libtorch runs convolutions, linear layers and
/// matmuls in <see cref="Dtype"/> (bfloat16 or float16) with float32 weights cast per call, runs losses and
/// precision-sensitive ops (softmax cross-entropy, BCE, smooth L1, norms) in float32 and promotes mixed element-wise
/// ops to float32 — libtorch's own op lists, the ones <c>torch.autocast</c> uses. TorchSharp 0.107 does not expose
/// autocast, so the region is switched with libtorch's <c>at::autocast</c> functions, which <c>libtorch_cpu.so</c>
/// exports (already loaded by TorchSharp). The state is per thread, as in PyTorch: enter and dispose on the same thread.
/// Leaving the outermost region clears libtorch's cache of cast weights (PyTorch's <c>__exit__</c>).
/// </summary>
public sealed unsafe class Autocast : IDisposable
{
    // libtorch's C++ entry points (Itanium-mangled): c10::DeviceType and c10::ScalarType are int8 enums, bool one byte.
    private static readonly Lazy<Natives> Api = new(Natives.Load);

    private readonly DeviceType _device;
    private readonly bool _wasEnabled;
    private readonly sbyte _previousDtype;
    private bool _disposed;

    private Autocast(DeviceType device, ScalarType dtype)
    {
        var api = Api.Value;
        _device = device;
        _wasEnabled = api.IsEnabled((sbyte)device) != 0;
        _previousDtype = api.GetDtype((sbyte)device);
        api.SetEnabled((sbyte)device, 1);
        api.SetDtype((sbyte)device, (sbyte)dtype);
        api.IncrementNesting();
    }

    /// <summary>Autocast on <paramref name="device"/>'s type in <paramref name="dtype"/> (BFloat16 or Float16) until disposed.</summary>
    public static Autocast Enter(Device device, ScalarType dtype)
    {
        if (dtype is not (ScalarType.BFloat16 or ScalarType.Float16))
            throw new ArgumentException($"autocast runs in bfloat16 or float16, got {dtype}.", nameof(dtype));
        if (device.type is not (DeviceType.CPU or DeviceType.CUDA))
            throw new DetSharpException($"mixed precision runs on CPU or CUDA, not on {device.type}; remove fp16 / mixed_precision from the config.");
        return new Autocast(device.type, dtype);
    }

    /// <summary>Whether autocast is on for <paramref name="device"/>'s type on this thread.</summary>
    public static bool IsEnabled(Device device) => Api.Value.IsEnabled((sbyte)device.type) != 0;

    /// <summary>The dtype autocast casts to on <paramref name="device"/>'s type on this thread.</summary>
    public static ScalarType Dtype(Device device) => (ScalarType)Api.Value.GetDtype((sbyte)device.type);

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        var api = Api.Value;
        if (api.DecrementNesting() == 0) api.ClearCache();
        api.SetEnabled((sbyte)_device, (byte)(_wasEnabled ? 1 : 0));
        api.SetDtype((sbyte)_device, _previousDtype);
    }

    private sealed class Natives
    {
        public delegate* unmanaged<sbyte, byte> IsEnabled;
        public delegate* unmanaged<sbyte, byte, void> SetEnabled;
        public delegate* unmanaged<sbyte, sbyte> GetDtype;
        public delegate* unmanaged<sbyte, sbyte, void> SetDtype;
        public delegate* unmanaged<int> IncrementNesting;
        public delegate* unmanaged<int> DecrementNesting;
        public delegate* unmanaged<void> ClearCache;

        public static Natives Load()
        {
            // TorchSharp loads libtorch on first use; a tensor makes sure it has, so the soname below finds that copy.
            using (var probe = zeros(1)) { }
            if (!NativeLibrary.TryLoad("libtorch_cpu.so", out nint lib) && !NativeLibrary.TryLoad("torch_cpu.dll", out lib))
                throw new DetSharpException("mixed precision needs libtorch's autocast (libtorch_cpu), which could not be found in this process; run without fp16 / mixed_precision.");
            nint Export(string name) => NativeLibrary.TryGetExport(lib, name, out nint f) ? f
                : throw new DetSharpException($"libtorch_cpu has no '{name}' (autocast): this libtorch build is not the 2.x that TorchSharp 0.107 ships; run without fp16 / mixed_precision.");
            return new Natives
            {
                IsEnabled = (delegate* unmanaged<sbyte, byte>)Export("_ZN2at8autocast19is_autocast_enabledEN3c1010DeviceTypeE"),
                SetEnabled = (delegate* unmanaged<sbyte, byte, void>)Export("_ZN2at8autocast20set_autocast_enabledEN3c1010DeviceTypeEb"),
                GetDtype = (delegate* unmanaged<sbyte, sbyte>)Export("_ZN2at8autocast18get_autocast_dtypeEN3c1010DeviceTypeE"),
                SetDtype = (delegate* unmanaged<sbyte, sbyte, void>)Export("_ZN2at8autocast18set_autocast_dtypeEN3c1010DeviceTypeENS1_10ScalarTypeE"),
                IncrementNesting = (delegate* unmanaged<int>)Export("_ZN2at8autocast17increment_nestingEv"),
                DecrementNesting = (delegate* unmanaged<int>)Export("_ZN2at8autocast17decrement_nestingEv"),
                ClearCache = (delegate* unmanaged<void>)Export("_ZN2at8autocast11clear_cacheEv"),
            };
        }
    }
}
