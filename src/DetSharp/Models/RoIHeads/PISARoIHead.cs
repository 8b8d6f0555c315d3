using DetSharp.Registry;

namespace DetSharp.Models.RoIHeads;

/// <summary>
/// MMDetection's <c>PISARoIHead</c> (Prime Sample Attention, Cao et al. 2020): a <see cref="StandardRoIHead"/> whose
/// training takes the negatives' label weights from a scoring sampler (<c>ScoreHLRSampler</c>, ISR-N), reweights the
/// positives by their IoU hierarchical local rank (<c>train_cfg.isr</c>, ISR-P) and adds <c>loss_carl</c>
/// (<c>train_cfg.carl</c>, classification-aware regression). Layers, keys and testing are the standard head's.
/// </summary>
[Register(Registries.ModelsName, "PISARoIHead")]
public sealed class PISARoIHead([InheritedArguments] RoIHeadArguments args) : StandardRoIHead(nameof(PISARoIHead), args, primeSampleAttention: true);
