using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Ops;

/// <summary>
/// mmcv's <c>RoIAlign(output_size, spatial_scale, sampling_ratio, pool_mode, aligned)</c>: pools every RoI
/// <c>(batch_idx, x1, y1, x2, y2)</c> of <c>rois</c> [K, 5] from <c>input</c> [N, C, H, W] into [K, C, PH, PW].
/// CPU float32 runs the C# kernel inside the autograd graph (<see cref="RoIAlignFunction"/>); other devices use the
/// grid_sample formulation (<see cref="RoIAlignGridSample"/>) with the same semantics.
/// </summary>
public sealed class RoIAlign : nn.Module<Tensor, Tensor, Tensor>
{
    /// <summary>Creates the op; argument names and defaults as mmcv.</summary>
    public RoIAlign((int Height, int Width) outputSize, double spatialScale = 1.0, int samplingRatio = 0, string poolMode = "avg", bool aligned = true)
        : base(nameof(RoIAlign))
    {
        Options = new RoIAlignOptions(outputSize.Height, outputSize.Width, (float)spatialScale, samplingRatio,
            RoIAlignOptions.ParsePoolMode(poolMode), aligned);
        Options.Validate();
    }

    /// <summary>Creates the op from options.</summary>
    public RoIAlign(RoIAlignOptions options)
        : base(nameof(RoIAlign))
    {
        options.Validate();
        Options = options;
    }

    /// <summary>The op's parameters.</summary>
    public RoIAlignOptions Options { get; }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input, Tensor rois) => Apply(input, rois, Options);

    /// <summary>Functional form: the CPU kernel for CPU tensors, the grid_sample formulation elsewhere.</summary>
    public static Tensor Apply(Tensor input, Tensor rois, RoIAlignOptions options)
    {
        options.Validate();
        CheckShapes(input, rois);
        if (input.device_type != DeviceType.CPU)
        {
            return RoIAlignGridSample.Apply(input, rois, options);
        }

        if (rois.device_type != DeviceType.CPU)
        {
            throw new ArgumentException($"RoIAlign: input is on CPU but rois are on {rois.device}.");
        }

        if (input.dtype == ScalarType.Float32)
        {
            return RoIAlignFunction.apply(input, rois, options, true);
        }

        // Other floating types: run the float32 kernel between differentiable casts.
        using var scope = NewDisposeScope();
        var output = RoIAlignFunction.apply(input.to_type(ScalarType.Float32), rois, options, true).to_type(input.dtype);
        return output.MoveToOuterDisposeScope();
    }

    internal static void CheckShapes(Tensor input, Tensor rois)
    {
        if (input.dim() != 4)
        {
            throw new ArgumentException($"RoIAlign: input must be [N, C, H, W], got shape [{string.Join(", ", input.shape)}].");
        }

        if (rois.dim() != 2 || rois.shape[1] != 5)
        {
            throw new ArgumentException($"RoIAlign: rois must be [K, 5] (batch_idx, x1, y1, x2, y2), got shape [{string.Join(", ", rois.shape)}].");
        }

        if (!input.is_floating_point())
        {
            throw new ArgumentException($"RoIAlign: input must be floating point, got {input.dtype}.");
        }
    }
}
