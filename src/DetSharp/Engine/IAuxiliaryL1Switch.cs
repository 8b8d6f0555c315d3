namespace DetSharp.Engine;

/// <summary>
/// A head with an extra L1 loss on its raw box outputs that training switches on late (MMDetection's
/// <c>YOLOXHead.use_l1</c>); YOLOXModeSwitchHook sets <see cref="UseL1"/> on the model's <c>bbox_head</c>.
/// </summary>
public interface IAuxiliaryL1Switch
{
    bool UseL1 { get; set; }
}
