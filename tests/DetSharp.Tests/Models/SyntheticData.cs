using DetSharp.Models;
using DetSharp.Structures;
using static TorchSharp.torch;

namespace DetSharp.Tests.Models;

/// <summary>Two small synthetic images with bright rectangular objects, their boxes, labels and masks.</summary>
internal static class SyntheticData
{
    public static (Tensor Img, ImgMeta[] Metas, Tensor[] Boxes, Tensor[] Labels, IInstanceMasks[] Masks) Batch(int h = 128, int w = 160, int numClasses = 8)
    {
        var g = new Random(123);
        var objects = new[]
        {
            new[] { (10, 20, 70, 90, 0), (80, 30, 150, 110, 1 % numClasses) },
            new[] { (30, 10, 120, 60, 2 % numClasses), (20, 70, 60, 120, 0) },
        };
        var img = zeros(2, 3, h, w);
        var metas = new ImgMeta[2];
        var boxes = new Tensor[2];
        var labels = new Tensor[2];
        var masks = new IInstanceMasks[2];
        using (no_grad())
        {
            for (int b = 0; b < 2; b++)
            {
                img[b] = randn(3, h, w) * 0.2f;
                var bx = new List<float>();
                var lb = new List<long>();
                var ms = new List<byte[]>();
                foreach (var (x1, y1, x2, y2, label) in objects[b])
                {
                    img[b, label % 3, y1..y2, x1..x2] += 2f;
                    bx.AddRange([x1, y1, x2, y2]);
                    lb.Add(label);
                    var m = new byte[h * w];
                    for (int y = y1; y < y2; y++)
                        for (int x = x1; x < x2; x++)
                            m[y * w + x] = 1;
                    ms.Add(m);
                }
                _ = g;
                metas[b] = ImgMeta.Unscaled(h, w);
                boxes[b] = tensor(bx.ToArray(), [objects[b].Length, 4]);
                labels[b] = tensor(lb.ToArray());
                masks[b] = new BitmapMasks(ms.ToArray(), h, w);
            }
        }
        return (img, metas, boxes, labels, masks);
    }
}
