using DetSharp.Distributed;
using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Models.Common;

/// <summary>
/// The normalisation of <see cref="SyncBatchNorm"/> with the ranks' common statistics as a custom autograd function
/// (torch's <c>SyncBatchNorm</c> forward/backward). Arguments of <c>apply</c>: input [N, C, ...], weight [C], bias [C],
/// mean [C], invstd [C] (the common statistics, constants here), the <see cref="IProcessGroup"/>, and the denominator of
/// the gradient means (the total element count per channel). Backward: each rank's Σdy and Σdy·(x − mean) per channel,
/// all-reduced, give the terms through which every rank's input moved the common mean and variance; the weight and bias
/// get this rank's own gradient (the data-parallel average then sums the ranks' parts, as torch's DDP).
/// </summary>
internal sealed class SyncBatchNormFunction : autograd.SingleTensorFunction<SyncBatchNormFunction>
{
    private const string GroupKey = "group";
    private const string DenominatorKey = "denominator";

    public override string Name => "SyncBatchNorm";

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var input = (Tensor)vars[0];
        var weight = (Tensor)vars[1];
        var bias = (Tensor)vars[2];
        var mean = (Tensor)vars[3];
        var invStd = (Tensor)vars[4];
        ctx.save_for_backward([input, weight, mean, invStd]);
        ctx.save_data(GroupKey, vars[5]);
        ctx.save_data(DenominatorKey, vars[6]);
        using var scope = NewDisposeScope();
        var shape = ChannelShape(input);
        return scope.MoveToOuter(input.sub(mean.view(shape)).mul_(invStd.mul(weight).view(shape)).add_(bias.view(shape)));
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
    {
        using var scope = NewDisposeScope();
        var saved = ctx.get_saved_variables();
        Tensor input = saved[0], weight = saved[1], mean = saved[2], invStd = saved[3];
        var group = (IProcessGroup)ctx.get_data(GroupKey);
        double denominator = (double)ctx.get_data(DenominatorKey);
        var shape = ChannelShape(input);
        var dims = Enumerable.Range(0, (int)input.dim()).Where(d => d != 1).Select(d => (long)d).ToArray();
        long channels = input.shape[1];

        var xmu = input.sub(mean.view(shape));
        var sumDy = grad_output.sum(dims);
        var sumDyXmu = grad_output.mul(xmu).sum(dims);
        var gradWeight = sumDyXmu.mul(invStd);
        var gradBias = sumDy.clone();

        // One collective for both sums, in float64 on the host.
        var sums = cat([sumDy, sumDyXmu]).to(ScalarType.Float64, CPU).contiguous();
        var values = sums.data<double>().ToArray();
        group.AllReduceSum(values);
        var total = tensor(values, ScalarType.Float64).div_(denominator).to(input.dtype, input.device);
        var meanDy = total.narrow(0, 0, channels);
        var meanDyXmu = total.narrow(0, channels, channels);

        var gradInput = grad_output.sub(meanDy.view(shape))
            .sub_(xmu.mul(invStd.square().mul(meanDyXmu).view(shape)))
            .mul_(invStd.mul(weight).view(shape));
        return [scope.MoveToOuter(gradInput), scope.MoveToOuter(gradWeight), scope.MoveToOuter(gradBias), null!, null!, null!, null!];
    }

    /// <summary>[1, C, 1, ...]: a per-channel vector broadcast over the input.</summary>
    internal static long[] ChannelShape(Tensor input)
    {
        var shape = Enumerable.Repeat(1L, (int)input.dim()).ToArray();
        shape[1] = input.shape[1];
        return shape;
    }
}
