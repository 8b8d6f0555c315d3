namespace DetSharp.Models.Weights;

/// <summary>A module built with MMDetection's <c>init_cfg</c>; <see cref="PretrainedInit"/> applies its 'Pretrained' entries.</summary>
public interface IHasInitCfg
{
    /// <summary>The <c>init_cfg</c> as given: a dict, a list of dicts, or null.</summary>
    object? InitCfg { get; }
}
