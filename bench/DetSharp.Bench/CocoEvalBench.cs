using System.Diagnostics;
using DetSharp.Evaluation;
using DetSharp.Structures;

namespace DetSharp.Bench;

/// <summary>
/// A seeded COCO-val-sized COCOeval problem: 5,000 images, 80 categories, ~36,000 GT boxes (about 1% crowd RLEs),
/// 100 detections per image; segm on 500 images with polygon GT and compressed-RLE detections.
/// </summary>
internal static class CocoEvalBench
{
    public static void RunAll(int seed)
    {
        Run("bbox", 5000, CocoIouType.Bbox, seed);
        Run("segm", 500, CocoIouType.Segm, seed);
    }

    private static void Run(string name, int numImages, CocoIouType iouType, int seed)
    {
        var rng = new Random(seed);
        const int W = 640, H = 480, K = 80;
        var images = new List<CocoImage>();
        var cats = Enumerable.Range(1, K).Select(k => new CocoCategory(k, $"c{k}")).ToList();
        var gts = new List<CocoAnnotation>();
        var dts = new List<CocoAnnotation>();
        long annId = 1;
        for (int i = 0; i < numImages; i++)
        {
            images.Add(new CocoImage(i + 1, W, H, null));
            int n = 1 + rng.Next(14); // mean 7.5 objects per image -> ~36-37k for 5,000 images
            var objs = new List<(BoxXywh Box, int Cat)>();
            for (int j = 0; j < n; j++)
            {
                double w = 4 + rng.NextDouble() * 300, h = 4 + rng.NextDouble() * 250;
                var box = new BoxXywh(rng.NextDouble() * (W - w), rng.NextDouble() * (H - h), w, h);
                int cat = 1 + rng.Next(K);
                bool crowd = rng.NextDouble() < 0.01;
                var poly = Octagon(box);
                CocoSegmentation seg = crowd
                    ? new UncompressedRleSegmentation(H, W, RlePolygon.FromPolygon(poly, H, W).Counts.Select(c => (long)c).ToArray())
                    : new PolygonSegmentation([poly]);
                gts.Add(new CocoAnnotation { Id = annId++, ImageId = i + 1, CategoryId = cat, Bbox = box, HasBbox = true, Area = w * h, IsCrowd = crowd, Segmentation = seg });
                objs.Add((box, cat));
            }
            for (int d = 0; d < 100; d++)
            {
                BoxXywh box;
                int cat;
                if (d < objs.Count * 3)
                {
                    var (b, c) = objs[d % objs.Count];
                    double s = 0.15 * (d / objs.Count + 1);
                    box = new BoxXywh(b.X + b.W * s * (rng.NextDouble() - .5), b.Y + b.H * s * (rng.NextDouble() - .5), b.W * (1 + s * (rng.NextDouble() - .5)), b.H * (1 + s * (rng.NextDouble() - .5)));
                    cat = rng.NextDouble() < 0.9 ? c : 1 + rng.Next(K);
                }
                else
                {
                    double w = 4 + rng.NextDouble() * 200, h = 4 + rng.NextDouble() * 200;
                    box = new BoxXywh(rng.NextDouble() * (W - w), rng.NextDouble() * (H - h), w, h);
                    cat = 1 + rng.Next(K);
                }
                CocoSegmentation? seg = null;
                if (iouType == CocoIouType.Segm)
                {
                    var rle = RlePolygon.FromPolygon(Octagon(box), H, W);
                    seg = new CompressedRleSegmentation(H, W, rle.ToCompressedString());
                }
                dts.Add(new CocoAnnotation { ImageId = i + 1, CategoryId = cat, Bbox = box, HasBbox = true, Score = Math.Round(rng.NextDouble(), 3), Segmentation = seg });
            }
        }
        var gt = new CocoApi(images, cats, gts);
        var cpu = Process.GetCurrentProcess();
        var cpu0 = cpu.TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        var dt = CocoResults.FromDetections(dts, gt);
        var eval = new CocoEval(gt, dt, iouType);
        double load = sw.Elapsed.TotalSeconds;
        eval.Evaluate();
        double evaluate = sw.Elapsed.TotalSeconds - load;
        eval.Accumulate();
        double accumulate = sw.Elapsed.TotalSeconds - load - evaluate;
        eval.Summarize();
        Console.WriteLine($"{name}: {numImages} images, {gts.Count} GT ({gts.Count(g => g.IsCrowd)} crowd), {dts.Count} dets");
        Console.Write(eval.SummaryText);
        cpu.Refresh();
        double cpuSeconds = (cpu.TotalProcessorTime - cpu0).TotalSeconds;
        Console.WriteLine($"{name}: loadRes {load:F2} s, evaluate {evaluate:F2} s, accumulate {accumulate:F2} s, total {sw.Elapsed.TotalSeconds:F2} s wall, {cpuSeconds:F2} s CPU ({Environment.ProcessorCount} cores)\n");
    }

    private static double[] Octagon(BoxXywh b)
    {
        double x0 = b.X, y0 = b.Y, x1 = b.X + b.W, y1 = b.Y + b.H, dx = b.W * 0.29, dy = b.H * 0.29;
        return [x0 + dx, y0, x1 - dx, y0, x1, y0 + dy, x1, y1 - dy, x1 - dx, y1, x0 + dx, y1, x0, y1 - dy, x0, y0 + dy];
    }
}
