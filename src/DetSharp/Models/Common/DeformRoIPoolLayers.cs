using DetSharp.Ops;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Common;

/// <summary>
/// mmcv's <c>DeformRoIPoolPack</c> (roi_layer <c>type='DeformRoIPoolPack'</c>) and <c>ModulatedDeformRoIPoolPack</c>:
/// a first <see cref="DeformRoIPool"/> pass without offsets feeds <c>offset_fc</c> (Linear, ReLU, Linear, ReLU, Linear
/// to 2·PH·PW), whose output [K, 2, PH, PW] shifts the bins of a second pass; the modulated one also multiplies that
/// pass by a sigmoid mask from <c>mask_fc</c> (Linear, ReLU, Linear to PH·PW, Sigmoid). The last Linear of each branch
/// is zero-initialised, so training starts from plain RoIAlign (and a mask of 0.5); the others keep torch's default
/// init. State-dict keys as mmcv's: <c>offset_fc.0/2/4.*</c>, <c>mask_fc.0/2.*</c>.
/// </summary>
public sealed class DeformRoIPoolPack : nn.Module<Tensor, Tensor, Tensor>
{
    /// <summary>Submodules are registered explicitly under mmcv's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private readonly int _outputHeight, _outputWidth, _samplingRatio;
    private readonly long _outputChannels;
    private readonly double _spatialScale, _gamma;
    private readonly nn.Module<Tensor, Tensor> _offsetFc;
    private readonly nn.Module<Tensor, Tensor>? _maskFc;

    public DeformRoIPoolPack(bool modulated, (int Height, int Width) outputSize, long outputChannels, long deformFcChannels = 1024,
        double spatialScale = 1.0, int samplingRatio = 0, double gamma = 0.1)
        : base(modulated ? "ModulatedDeformRoIPoolPack" : nameof(DeformRoIPoolPack))
    {
        (_outputHeight, _outputWidth) = outputSize;
        (_outputChannels, _spatialScale, _samplingRatio, _gamma) = (outputChannels, spatialScale, samplingRatio, gamma);
        long bins = (long)_outputHeight * _outputWidth;
        var offsetOut = nn.Linear(deformFcChannels, bins * 2);
        _offsetFc = nn.Sequential(
            ("0", nn.Linear(bins * outputChannels, deformFcChannels)), ("1", nn.ReLU()),
            ("2", nn.Linear(deformFcChannels, deformFcChannels)), ("3", nn.ReLU()),
            ("4", offsetOut));
        ModuleTools.ConstantInit(offsetOut, 0);
        register_module("offset_fc", _offsetFc);
        if (modulated)
        {
            var maskOut = nn.Linear(deformFcChannels, bins);
            _maskFc = nn.Sequential(
                ("0", nn.Linear(bins * outputChannels, deformFcChannels)), ("1", nn.ReLU()),
                ("2", maskOut), ("3", nn.Sigmoid()));
            ModuleTools.ConstantInit(maskOut, 0);
            register_module("mask_fc", _maskFc);
        }
    }

    /// <summary>Pools <paramref name="rois"/> [K, 5] from <paramref name="input"/> [N, output_channels, H, W] into [K, C, PH, PW].</summary>
    public override Tensor forward(Tensor input, Tensor rois)
    {
        if (input.shape[1] != _outputChannels)
            throw new ArgumentException($"{GetName()}: the input has {input.shape[1]} channels, output_channels is {_outputChannels}.");
        using var scope = NewDisposeScope();
        long k = rois.shape[0];
        if (k == 0) return zeros([0, input.shape[1], _outputHeight, _outputWidth], input.dtype, input.device).MoveToOuterDisposeScope();
        var plain = Pool(input, rois, null).view(k, -1);
        var offset = _offsetFc.forward(plain).view(k, 2, _outputHeight, _outputWidth);
        var pooled = Pool(input, rois, offset);
        if (_maskFc is not null) pooled = pooled * _maskFc.forward(plain).view(k, 1, _outputHeight, _outputWidth);
        return pooled.MoveToOuterDisposeScope();
    }

    private Tensor Pool(Tensor input, Tensor rois, Tensor? offset) =>
        DeformRoIPool.Apply(input, rois, offset, _outputHeight, _outputWidth, _spatialScale, _samplingRatio, _gamma);
}
