using TorchSharp;
using static TorchSharp.torch;

namespace DetSharp.Ops;

/// <summary>
/// RoIAlign on CPU float32 as a custom autograd function: the forward and backward run the C# kernel
/// (<see cref="RoIAlignCpuKernel"/>, or for 'avg' the channels-last <see cref="RoIAlignNhwcKernel"/>). Arguments of
/// <c>apply</c>: input [N, C, H, W], rois [K, 5], <see cref="RoIAlignOptions"/>, and optionally a bool: use the
/// channels-last kernel for 'avg' (default true).
/// </summary>
internal sealed class RoIAlignFunction : autograd.SingleTensorFunction<RoIAlignFunction>
{
    private const string OptionsKey = "options";
    private const string ShapeKey = "input_shape";
    private const string LayoutKey = "channels_last";

    public override string Name => "RoIAlign";

    public override unsafe Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var input = (Tensor)vars[0];
        var rois = (Tensor)vars[1];
        var o = (RoIAlignOptions)vars[2];
        bool channelsLast = o.Mode == RoIAlignPoolMode.Avg && (vars.Length < 4 || (bool)vars[3]);

        // The kernel reads raw buffers: make both contiguous float32 (no copy when they already are).
        var r = rois.to_type(ScalarType.Float32).contiguous();
        int n = (int)input.shape[0], c = (int)input.shape[1], h = (int)input.shape[2], w = (int)input.shape[3];
        int k = (int)r.shape[0];
        var output = empty(new long[] { k, c, o.OutputHeight, o.OutputWidth }, ScalarType.Float32);
        var argmax = o.Mode == RoIAlignPoolMode.Max
            ? empty(new long[] { k, c, o.OutputHeight, o.OutputWidth }, ScalarType.Int32)
            : empty(new long[] { 0 }, ScalarType.Int32);
        if (k > 0 && c > 0 && channelsLast)
        {
            // Zero-copy when the input is already in channels_last memory format.
            using var nhwc = input.permute(0, 2, 3, 1).contiguous();
            fixed (byte* px = nhwc.bytes, pr = r.bytes, po = output.bytes)
            {
                RoIAlignNhwcKernel.Forward((float*)px, n, c, h, w, (float*)pr, k, (float*)po, o);
            }
        }
        else if (k > 0 && c > 0)
        {
            using var x = input.contiguous();
            fixed (byte* px = x.bytes, pr = r.bytes, po = output.bytes, pa = argmax.bytes)
            {
                RoIAlignCpuKernel.Forward((float*)px, n, c, h, w, (float*)pr, k, (float*)po, (int*)pa, o);
            }
        }

        ctx.save_for_backward(new List<Tensor> { r, argmax });
        ctx.save_data(OptionsKey, o);
        ctx.save_data(ShapeKey, input.shape);
        ctx.save_data(LayoutKey, channelsLast);
        return output;
    }

    public override unsafe List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
    {
        var saved = ctx.get_saved_variables();
        var r = saved[0];
        var argmax = saved[1];
        var o = (RoIAlignOptions)ctx.get_data(OptionsKey);
        var shape = (long[])ctx.get_data(ShapeKey);
        int n = (int)shape[0], c = (int)shape[1], h = (int)shape[2], w = (int)shape[3];
        int k = (int)r.shape[0];
        bool channelsLast = (bool)ctx.get_data(LayoutKey);
        if (channelsLast)
        {
            // [K, C, PH, PW] -> [K, PH, PW, C]; the gradient is built as [N, H, W, C] and returned as an NCHW view.
            using var goNhwc = grad_output.to_type(ScalarType.Float32).permute(0, 2, 3, 1).contiguous();
            var gradNhwc = zeros(new long[] { n, h, w, c }, ScalarType.Float32);
            if (k > 0 && c > 0)
            {
                fixed (byte* pg = goNhwc.bytes, pr = r.bytes, pi = gradNhwc.bytes)
                {
                    RoIAlignNhwcKernel.Backward((float*)pg, (float*)pr, k, (float*)pi, n, c, h, w, o);
                }
            }

            return new List<Tensor> { gradNhwc.permute(0, 3, 1, 2), null!, null!, null! };
        }

        var go = grad_output.to_type(ScalarType.Float32).contiguous();
        var gradInput = zeros(shape, ScalarType.Float32);
        if (k > 0 && c > 0)
        {
            fixed (byte* pg = go.bytes, pr = r.bytes, pa = argmax.bytes, pi = gradInput.bytes)
            {
                RoIAlignCpuKernel.Backward((float*)pg, (float*)pr, k, (int*)pa, (float*)pi, n, c, h, w, o);
            }
        }

        return new List<Tensor> { gradInput, null!, null!, null! };
    }
}
