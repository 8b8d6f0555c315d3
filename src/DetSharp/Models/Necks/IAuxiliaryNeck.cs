using static TorchSharp.torch;

namespace DetSharp.Models.Necks;

/// <summary>
/// A neck that hands extra maps to the heads during training, as explicit values rather than state kept in the neck
/// (AugFPN's lateral maps for Consistent Supervision). <see cref="Detectors.BaseDetector.ExtractFeatWithAuxiliary"/>
/// calls it.
/// </summary>
public interface IAuxiliaryNeck
{
    /// <summary>The neck's outputs and, when its auxiliary branch is on in training, the auxiliary maps (else null).</summary>
    (Tensor[] Outs, Tensor[]? Auxiliary) ForwardWithAuxiliary(Tensor[] inputs);
}
