using DetSharp.Registry;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DetSharp.Models.Common;

/// <summary>
/// mmcv's <c>GeneralizedAttention</c> (the "empirical attention" of Zhu et al., abbreviation <c>gen_attention_block</c>):
/// multi-head attention over the positions of a feature map, whose energy sums the terms <c>attention_type</c> switches
/// on, in order: query·key content ('1000'), query·relative position ('0100'), key content with a learnt bias
/// <c>appr_bias</c> ('0010'), relative position with a learnt bias <c>geom_bias</c> ('0001'). Relative positions are
/// sinusoidal embeddings of the x and y offsets (<c>position_embedding_dim</c>, default in_channels, scaled by
/// <c>position_magnitude</c>) through <c>appr_geom_fc_x/y</c>. Keys and values are subsampled by <c>kv_stride</c>,
/// queries by <c>q_stride</c> (the output is then upsampled bilinearly); <c>spatial_range</c> ≥ 0 masks keys farther
/// than that (the <c>local_constraint_map</c>, for 256 or 512 channels as in mmcv). Output <c>gamma · proj_conv(att·v) + x</c>
/// with <c>gamma</c> zero at init; the convs and linears are Kaiming-uniform (fan_in, a=1) as mmcv's <c>init_weights</c>.
/// </summary>
[Register(Registries.PluginLayersName, "GeneralizedAttention")]
public sealed class GeneralizedAttention : nn.Module<Tensor, Tensor>, IPluginLayer
{
    /// <summary>Submodules and parameters are registered explicitly under mmcv's names; fields are not auto-registered.</summary>
    protected override void RegisterComponents()
    {
    }

    private readonly nn.Module<Tensor, Tensor>? _queryConv, _keyConv, _fcX, _fcY;
    private readonly nn.Module<Tensor, Tensor> _valueConv, _projConv;
    private readonly Parameter? _apprBias, _geomBias, _localConstraintMap;
    private readonly Parameter _gamma;
    private readonly bool[] _type;
    private readonly long _numHeads, _qkEmbedDim, _vDim, _positionEmbeddingDim;
    private readonly int _kvStride, _qStride, _spatialRange;
    private readonly double _positionMagnitude;

    /// <param name="inChannels">Channels of the input.</param>
    /// <param name="spatialRange">-1: no constraint; else the largest key offset a query attends to.</param>
    /// <param name="numHeads">Attention heads (each of in_channels // num_heads channels).</param>
    /// <param name="positionEmbeddingDim">Dimension of the position embedding; ≤ 0: in_channels.</param>
    /// <param name="positionMagnitude">Multiplier of the coordinate offsets.</param>
    /// <param name="kvStride">Subsampling of keys and values.</param>
    /// <param name="qStride">Subsampling of queries.</param>
    /// <param name="attentionType">Four 0/1 digits switching the energy terms on (see the class remarks).</param>
    public GeneralizedAttention(long inChannels, int spatialRange = -1, int numHeads = 9, int positionEmbeddingDim = -1, double positionMagnitude = 1,
        int kvStride = 2, int qStride = 1, string attentionType = "1111")
        : base(nameof(GeneralizedAttention))
    {
        if (attentionType.Length != 4 || attentionType.Any(c => c is not ('0' or '1')) || !attentionType.Contains('1'))
            throw new DetSharpException($"GeneralizedAttention: attention_type must be four 0/1 digits with at least one 1 (e.g. '1111', '0010'), got '{attentionType}'.");
        if (numHeads < 1 || inChannels / numHeads < 1)
            throw new DetSharpException($"GeneralizedAttention: num_heads ({numHeads}) must be between 1 and in_channels ({inChannels}).");
        if (kvStride < 1 || qStride < 1)
            throw new DetSharpException($"GeneralizedAttention: kv_stride and q_stride must be positive, got {kvStride} and {qStride}.");
        _type = attentionType.Select(c => c == '1').ToArray();
        _positionEmbeddingDim = positionEmbeddingDim > 0 ? positionEmbeddingDim : inChannels;
        _positionMagnitude = positionMagnitude;
        _numHeads = numHeads;
        _spatialRange = spatialRange;
        _kvStride = kvStride;
        _qStride = qStride;
        _qkEmbedDim = inChannels / numHeads;
        _vDim = inChannels / numHeads;
        long outC = _qkEmbedDim * numHeads;

        // Parameters of the module itself come first in PyTorch's state dict (appr_bias, geom_bias, gamma, map), then the
        // submodules in the order mmcv creates them.
        double stdv = 1.0 / Math.Sqrt(_qkEmbedDim * 2);
        if (_type[2])
        {
            _apprBias = new Parameter(-2 * stdv * rand(outC) + stdv);
            register_parameter("appr_bias", _apprBias);
        }
        if (_type[3])
        {
            _geomBias = new Parameter(-2 * stdv * rand(outC) + stdv);
            register_parameter("geom_bias", _geomBias);
        }
        _gamma = new Parameter(zeros(1));
        register_parameter("gamma", _gamma);
        if (spatialRange >= 0)
        {
            _localConstraintMap = new Parameter(LocalConstraintMap(inChannels, spatialRange, kvStride), requires_grad: false);
            register_parameter("local_constraint_map", _localConstraintMap);
        }

        if (_type[0] || _type[1])
        {
            _queryConv = KaimingUniform(nn.Conv2d(inChannels, outC, 1, bias: false));
            register_module("query_conv", _queryConv);
        }
        if (_type[0] || _type[2])
        {
            _keyConv = KaimingUniform(nn.Conv2d(inChannels, outC, 1, bias: false));
            register_module("key_conv", _keyConv);
        }
        _valueConv = KaimingUniform(nn.Conv2d(inChannels, _vDim * numHeads, 1, bias: false));
        register_module("value_conv", _valueConv);
        if (_type[1] || _type[3])
        {
            _fcX = KaimingUniform(nn.Linear(_positionEmbeddingDim / 2, outC, hasBias: false));
            register_module("appr_geom_fc_x", _fcX);
            _fcY = KaimingUniform(nn.Linear(_positionEmbeddingDim / 2, outC, hasBias: false));
            register_module("appr_geom_fc_y", _fcY);
        }
        _projConv = KaimingUniform(nn.Conv2d(_vDim * numHeads, inChannels, 1, bias: true));
        register_module("proj_conv", _projConv);
    }

    public string Abbreviation => "gen_attention_block";

    /// <summary>mmcv's <c>kaiming_init(mode='fan_in', nonlinearity='leaky_relu', a=1, distribution='uniform', bias=0)</c>.</summary>
    private static nn.Module<Tensor, Tensor> KaimingUniform(nn.Module<Tensor, Tensor> layer)
    {
        using var _ = no_grad();
        var parameters = layer.named_parameters(recurse: false).ToDictionary(p => p.name, p => p.parameter);
        nn.init.kaiming_uniform_(parameters["weight"], a: 1, mode: nn.init.FanInOut.FanIn, nonlinearity: nn.init.NonlinearityType.LeakyReLU);
        if (parameters.TryGetValue("bias", out var bias)) bias.fill_(0);
        return layer;
    }

    /// <summary>
    /// mmcv's map (1 = masked) of the query (iy, ix) × key (ky, kx) pairs farther apart than <paramref name="range"/>, for
    /// feature maps up to 84 (256 channels) or 42 (512 channels) positions a side.
    /// </summary>
    private static Tensor LocalConstraintMap(long inChannels, int range, int kvStride)
    {
        int maxLen = inChannels switch
        {
            256 => 84,
            512 => 42,
            _ => throw new DetSharpException($"GeneralizedAttention: spatial_range >= 0 is defined for 256 or 512 input channels (as in mmcv), not {inChannels}; use spatial_range=-1."),
        };
        int maxLenKv = (int)((maxLen - 1.0) / kvStride + 1);
        var map = new byte[maxLen * maxLen * maxLenKv * maxLenKv];
        Array.Fill(map, (byte)1);
        for (int iy = 0; iy < maxLen; iy++)
        {
            // Python's floor division and slice bounds (clipped to the kv size, as numpy does).
            int y0 = Math.Max(FloorDiv(iy - range, kvStride), 0), y1 = Math.Min(Math.Min((iy + range + 1) / kvStride + 1, maxLen), maxLenKv);
            for (int ix = 0; ix < maxLen; ix++)
            {
                int x0 = Math.Max(FloorDiv(ix - range, kvStride), 0), x1 = Math.Min(Math.Min((ix + range + 1) / kvStride + 1, maxLen), maxLenKv);
                long baseIndex = ((long)iy * maxLen + ix) * maxLenKv * maxLenKv;
                for (int ky = y0; ky < y1; ky++)
                    for (int kx = x0; kx < x1; kx++)
                        map[baseIndex + (ky * maxLenKv) + kx] = 0;
            }
        }
        return tensor(map, [maxLen, maxLen, maxLenKv, maxLenKv], ScalarType.Byte);
    }

    private static int FloorDiv(int a, int b) => (int)Math.Floor((double)a / b);

    /// <summary>mmcv's sinusoidal embeddings of the x and y offsets between query and key positions.</summary>
    private (Tensor X, Tensor Y) PositionEmbedding(long h, long w, long hKv, long wKv, Device device, ScalarType dtype)
    {
        const double waveLength = 1000;
        long featDim = _positionEmbeddingDim;
        var hIdx = linspace(0, h - 1, h).to(dtype, device).view(h, 1) * _qStride;
        var wIdx = linspace(0, w - 1, w).to(dtype, device).view(w, 1) * _qStride;
        var hKvIdx = linspace(0, hKv - 1, hKv).to(dtype, device).view(hKv, 1) * _kvStride;
        var wKvIdx = linspace(0, wKv - 1, wKv).to(dtype, device).view(wKv, 1) * _kvStride;
        var hDiff = (hIdx.unsqueeze(1) - hKvIdx.unsqueeze(0)) * _positionMagnitude;
        var wDiff = (wIdx.unsqueeze(1) - wKvIdx.unsqueeze(0)) * _positionMagnitude;
        // torch.arange(0, feat_dim / 4): a float end, so ceil(feat_dim / 4) values.
        var featRange = arange(0.0, featDim / 4.0, 1.0).to(dtype, device);
        var dimMat = tensor(new[] { waveLength }).to(dtype, device).pow(featRange * (4.0 / featDim)).view(1, 1, -1);
        var x = cat([(wDiff / dimMat).sin(), (wDiff / dimMat).cos()], 2);
        var y = cat([(hDiff / dimMat).sin(), (hDiff / dimMat).cos()], 2);
        return (x, y);
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        long heads = _numHeads, qk = _qkEmbedDim;
        var xq = _qStride > 1 ? nn.functional.avg_pool2d(input, 1, _qStride) : input;
        long n = xq.shape[0], h = xq.shape[2], w = xq.shape[3];
        var xkv = _kvStride > 1 ? nn.functional.avg_pool2d(input, 1, _kvStride) : input;
        long hKv = xkv.shape[2], wKv = xkv.shape[3];

        Tensor? query = _queryConv?.forward(xq).view(n, heads, qk, h * w).permute(0, 1, 3, 2);
        Tensor? key = _keyConv?.forward(xkv).view(n, heads, qk, hKv * wKv);
        Tensor? posX = null, posY = null;
        if (_type[1] || _type[3])
        {
            var (embX, embY) = PositionEmbedding(h, w, hKv, wKv, input.device, input.dtype);
            posX = _fcX!.forward(embX).view(1, w, wKv, heads, qk).permute(0, 3, 1, 2, 4).repeat(n, 1, 1, 1, 1) / Math.Sqrt(2);
            posY = _fcY!.forward(embY).view(1, h, hKv, heads, qk).permute(0, 3, 1, 2, 4).repeat(n, 1, 1, 1, 1) / Math.Sqrt(2);
        }

        Tensor energy;
        if (_type.Count(t => t) == 1 && _type[2])
        {
            // Key content only: one energy row shared by every query.
            energy = matmul(_apprBias!.view(1, heads, 1, qk).repeat(n, 1, 1, 1), key!).view(n, heads, 1, hKv * wKv);
            h = 1;
            w = 1;
        }
        else
        {
            energy = _type[0]
                ? matmul(_type[2] ? query! + _apprBias!.view(1, heads, 1, qk) : query!, key!).view(n, heads, h, w, hKv, wKv)
                : zeros([n, heads, h, w, hKv, wKv], input.dtype, input.device);
            if (!_type[0] && _type[2])
                energy = energy + matmul(_apprBias!.view(1, heads, 1, qk).repeat(n, 1, 1, 1), key!).view(n, heads, 1, 1, hKv, wKv);
            if (_type[1])
            {
                var q = (_type[3] ? query! + _geomBias!.view(1, heads, 1, qk) : query!).view(n, heads, h, w, qk);
                var qT = q.permute(0, 1, 3, 2, 4);
                var energyX = matmul(qT, posX!.permute(0, 1, 2, 4, 3)).permute(0, 1, 3, 2, 4).unsqueeze(4);
                // mmcv's '0100' without '0001' multiplies the y embedding with the transposed query as well: kept, so
                // that its results (and its need for square query maps) are mmcv's.
                if (!_type[3] && h != w)
                    throw new DetSharpException($"GeneralizedAttention: attention_type '{string.Concat(_type.Select(t => t ? '1' : '0'))}' needs a square query map in mmcv, got {h}×{w}.");
                var energyY = matmul(_type[3] ? q : qT, posY!.permute(0, 1, 2, 4, 3)).unsqueeze(5);
                energy = energy + (energyX + energyY);
            }
            else if (_type[3])
            {
                var geomBias = _geomBias!.view(1, heads, qk, 1).repeat(n, 1, 1, 1);
                var energyX = matmul(posX!.view(n, heads, w * wKv, qk), geomBias).view(n, heads, 1, w, 1, wKv);
                var energyY = matmul(posY!.view(n, heads, h * hKv, qk), geomBias).view(n, heads, h, 1, hKv, 1);
                energy = energy + (energyX + energyY);
            }
            energy = energy.view(n, heads, h * w, hKv * wKv);
        }

        if (_localConstraintMap is not null)
        {
            var mask = _localConstraintMap[..(int)h, ..(int)w, ..(int)hKv, ..(int)wKv].contiguous().view(1, 1, h * w, hKv * wKv).to_type(ScalarType.Bool);
            energy = energy.masked_fill(mask, double.NegativeInfinity);
        }
        var attention = nn.functional.softmax(energy, 3);
        var value = _valueConv.forward(xkv).view(n, heads, _vDim, hKv * wKv).permute(0, 1, 3, 2);
        var output = matmul(attention, value).permute(0, 1, 3, 2).contiguous().view(n, _vDim * heads, h, w);
        output = _projConv.forward(output);
        if (_qStride > 1)
            output = nn.functional.interpolate(output, [input.shape[2], input.shape[3]], mode: InterpolationMode.Bilinear, align_corners: false);
        return (_gamma * output + input).MoveToOuterDisposeScope();
    }
}
