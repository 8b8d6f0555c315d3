using DetSharp.Config;
using DetSharp.Models.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Backbones;

/// <summary>
/// MMDetection's <c>HRModule</c>, one high-resolution module of an HRNet stage: each of the <c>num_branches</c> parallel
/// resolutions runs its own residual layer (<c>branches.i</c>), then the <c>fuse_layers</c> exchange information
/// across them. Output branch i sums every branch j brought to its resolution and channels — j coarser: 1×1 conv,
/// norm, nearest upsampling by 2^(j−i); j finer: i−j stride-2 3×3 conv + norm steps (ReLU between them, the channels
/// change at the last); j = i: as is — and applies a ReLU. With <c>multiscale_output=False</c> only branch 0 is fused
/// and returned. A single-branch module has no fuse layers.
/// </summary>
public sealed class HRModule : nn.Module<Tensor[], Tensor[]>
{
    /// <summary>Submodules are registered explicitly under MMDetection's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private readonly List<nn.Module<Tensor, Tensor>> _branches = [];
    private readonly List<OptionalModuleList<nn.Module<Tensor, Tensor>>> _fuseLayers = [];

    /// <param name="inChannels">Channels entering each branch.</param>
    /// <param name="numChannels">Planes of each branch's blocks (its output is planes × the block's expansion).</param>
    public HRModule(int numBranches, HRNetBlock block, int[] numBlocks, int[] inChannels, int[] numChannels, bool multiscaleOutput, ConfigDict normCfg)
        : base(nameof(HRModule))
    {
        if (numBlocks.Length != numBranches || numChannels.Length != numBranches || inChannels.Length != numBranches)
        {
            throw new DetSharpException(
                $"HRModule: num_branches ({numBranches}) must equal the length of num_blocks ({numBlocks.Length}), num_channels ({numChannels.Length}) and the input channels ({inChannels.Length}).");
        }
        for (int i = 0; i < numBranches; i++)
            _branches.Add(HRNetBlocks.MakeLayer(block, inChannels[i], numChannels[i], numBlocks[i], normCfg));
        register_module("branches", nn.ModuleList(_branches.ToArray()));
        OutChannels = numChannels.Select(c => c * block.Expansion()).ToArray();
        if (numBranches == 1) return;

        var ch = OutChannels;
        for (int i = 0; i < (multiscaleOutput ? numBranches : 1); i++)
        {
            var row = new List<nn.Module<Tensor, Tensor>?>();
            for (int j = 0; j < numBranches; j++)
            {
                if (j > i)
                {
                    row.Add(nn.Sequential(
                        ("0", nn.Conv2d(ch[j], ch[i], 1, bias: false)),
                        ("1", Norm(normCfg, ch[i])),
                        ("2", nn.Upsample(scale_factor: [1 << (j - i), 1 << (j - i)], mode: UpsampleMode.Nearest))));
                }
                else if (j == i)
                {
                    row.Add(null);
                }
                else
                {
                    var steps = new List<(string, nn.Module<Tensor, Tensor>)>();
                    for (int k = 0; k < i - j; k++)
                    {
                        bool last = k == i - j - 1;
                        int cout = last ? ch[i] : ch[j];
                        var step = new List<(string, nn.Module<Tensor, Tensor>)>
                        {
                            ("0", nn.Conv2d(ch[j], cout, 3, stride: 2, padding: 1, bias: false)),
                            ("1", Norm(normCfg, cout)),
                        };
                        if (!last) step.Add(("2", nn.ReLU()));
                        steps.Add((k.ToString(System.Globalization.CultureInfo.InvariantCulture), nn.Sequential(step.ToArray())));
                    }
                    row.Add(nn.Sequential(steps.ToArray()));
                }
            }
            _fuseLayers.Add(new OptionalModuleList<nn.Module<Tensor, Tensor>>(row));
        }
        register_module("fuse_layers", nn.ModuleList(_fuseLayers.ToArray()));
    }

    /// <summary>Channels of each branch's output.</summary>
    public int[] OutChannels { get; }

    private static nn.Module<Tensor, Tensor> Norm(ConfigDict normCfg, long channels) => (nn.Module<Tensor, Tensor>)NormLayers.Build(normCfg, channels).Layer;

    public override Tensor[] forward(Tensor[] x)
    {
        if (x.Length != _branches.Count)
            throw new ArgumentException($"HRModule expects {_branches.Count} branch inputs, got {x.Length}.");
        using var scope = NewDisposeScope();
        var xs = x.Select((t, i) => _branches[i].forward(t)).ToArray();
        Tensor[] outs;
        if (_fuseLayers.Count == 0)
        {
            outs = xs;
        }
        else
        {
            outs = new Tensor[_fuseLayers.Count];
            for (int i = 0; i < _fuseLayers.Count; i++)
            {
                // The sum runs over j in order, as MMDetection's `y += ...` does (float addition is not associative).
                Tensor y = Fused(i, 0, xs[0]);
                for (int j = 1; j < xs.Length; j++) y = y + Fused(i, j, xs[j]);
                outs[i] = nn.functional.relu(y);
            }
        }
        foreach (var o in outs) o.MoveToOuterDisposeScope();
        return outs;
    }

    private Tensor Fused(int i, int j, Tensor xj) => _fuseLayers[i][j] is { } layer ? layer.forward(xj) : xj;
}
