using static TorchSharp.torch;

namespace DetSharp.Models.Backbones;

/// <summary>A residual block of the ResNet family; <c>zero_init_residual</c> zeroes its last norm layer.</summary>
public interface IResidualBlock
{
    /// <summary>The norm layer before the residual sum (<c>norm2</c> of BasicBlock, <c>norm3</c> of the bottlenecks).</summary>
    nn.Module LastNorm { get; }
}
