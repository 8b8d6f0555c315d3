using static TorchSharp.torch;

namespace DetSharp.Engine;

/// <summary>
/// What the training engine needs from a detector (MMDetection's <c>BaseDetector.train_step</c> without the optimizer):
/// a <see cref="nn.Module"/> that turns one batch into named losses. Implement it on the detector class (which must
/// derive from <see cref="nn.Module"/>); the runner calls <c>train()</c>/<c>eval()</c>, sums the losses, steps the optimizer
/// and saves <c>state_dict()</c>.
/// </summary>
public interface ITrainableDetector
{
    /// <summary>
    /// MMDetection's <c>forward_train</c>: the loss dictionary for one batch, in the detector's own order
    /// (e.g. loss_rpn_cls, loss_rpn_bbox, loss_cls, acc, loss_bbox, loss_mask). Entries whose name contains
    /// <c>loss</c> are summed into the total; others (such as <c>acc</c>) are only logged. An entry may be a list of
    /// tensors (per-level losses), which is summed. Called in train mode with gradients enabled, and in eval mode
    /// under <c>no_grad</c> for the <c>('val', 1)</c> workflow.
    /// </summary>
    LossDict ForwardTrain(IDataBatch batch);
}

/// <summary>One mini-batch as the data loader hands it to the detector; the engine only needs its image count.</summary>
public interface IDataBatch : IDisposable
{
    /// <summary>Images in the batch (mmcv's <c>num_samples</c>, the weight of this batch in the interval averages).</summary>
    int NumSamples { get; }
}

/// <summary>
/// A data loader as the runner sees it (mmcv's <c>len(data_loader)</c> and iteration). Each call to
/// <see cref="GetEpoch"/> yields one epoch of batches; the epoch index lets samplers reshuffle reproducibly
/// (<c>set_epoch</c>). The runner times the enumeration as <c>data_time</c>, and disposes each batch after its iteration.
/// </summary>
public interface IBatchSource
{
    /// <summary>Batches per epoch.</summary>
    int Count { get; }

    /// <summary>The dataset's class names (MMDetection's <c>dataset.CLASSES</c>), or null when unknown.</summary>
    IReadOnlyList<string>? Classes { get; }

    /// <summary>The dataset's type name, for messages ("CocoDataset").</summary>
    string DatasetName { get; }

    IEnumerable<IDataBatch> GetEpoch(int epoch);
}

/// <summary>
/// Implemented by a module that has a classification output size (MMDetection's heads with <c>num_classes</c>),
/// so <see cref="Hooks.NumClassCheckHook"/> can compare it with the dataset's classes.
/// </summary>
public interface IHasNumClasses
{
    int NumClasses { get; }

    /// <summary>True for heads that NumClassCheckHook skips (RPN heads are class-agnostic).</summary>
    bool IsClassAgnostic => false;
}

/// <summary>Marks custom normalisation modules (besides TorchSharp's BatchNorm/GroupNorm/LayerNorm/InstanceNorm) for <c>norm_decay_mult</c>.</summary>
public interface INormLayer;
