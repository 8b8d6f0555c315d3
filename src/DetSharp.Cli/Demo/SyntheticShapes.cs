using System.Text.Json;
using OpenCvSharp;

namespace DetSharp.Cli.Demo;

/// <summary>Settings of <see cref="SyntheticShapes"/>: how many images of which size, from which seed.</summary>
internal sealed record SyntheticShapesOptions
{
    public int Seed { get; init; }
    public int TrainImages { get; init; } = 160;
    public int ValImages { get; init; } = 40;
    public int Width { get; init; } = 256;
    public int Height { get; init; } = 192;
    /// <summary>Objects per image, inclusive range.</summary>
    public int MinObjects { get; init; } = 1;
    public int MaxObjects { get; init; } = 3;
    /// <summary>Object size (the longer extent) as a fraction of the shorter image side.</summary>
    public double MinSize { get; init; } = 0.28;
    public double MaxSize { get; init; } = 0.55;
    /// <summary>Standard deviation of the Gaussian pixel noise added to the whole picture.</summary>
    public double Noise { get; init; } = 12;
}

/// <summary>
/// A synthetic instance-segmentation dataset in VIA 2.x format, for the demo and the end-to-end learning tests:
/// textured, coloured ellipses, triangles and squares on noisy gradient backgrounds with clutter, later objects
/// partly occluding earlier ones. Each region's polygon outlines the object's visible part and its
/// <c>region_attributes.shape</c> names the class. Everything follows from the seed.
/// </summary>
internal static class SyntheticShapes
{
    public static readonly IReadOnlyList<string> Classes = ["ellipse", "triangle", "square"];

    /// <summary>The region attribute holding the class name (<c>convert via2coco --category-attribute shape</c>).</summary>
    public const string CategoryAttribute = "shape";

    public sealed record SplitSummary(string Dir, string ViaJson, int Images, int Objects);

    /// <summary>Writes <c>root/train</c> and <c>root/val</c>, each with JPEG images and <c>via_region_data.json</c>.</summary>
    public static (SplitSummary Train, SplitSummary Val) Generate(string root, SyntheticShapesOptions o)
    {
        // Sensor noise comes from one OpenCV generator of its own for the whole dataset, never from OpenCV's thread-wide
        // RNG (Cv2.Randn), whose state depends on whatever ran on the thread before: a seed must give the same dataset in
        // every process and after every test. It starts from OpenCV's default state (0xffffffff), which is where the
        // thread-wide RNG of a fresh thread starts, so the datasets are the ones the e2e thresholds were calibrated on.
        // (RNG is a struct: it travels by ref so that its state moves on from image to image.)
        var noise = new RNG(0xffffffffUL);
        var train = WriteSplit(Path.Combine(root, "train"), "train", o.TrainImages, o.Seed * 2 + 1, ref noise, o);
        var val = WriteSplit(Path.Combine(root, "val"), "val", o.ValImages, o.Seed * 2 + 2, ref noise, o);
        return (train, val);
    }

    private static SplitSummary WriteSplit(string dir, string prefix, int count, int seed, ref RNG noise, SyntheticShapesOptions o)
    {
        Directory.CreateDirectory(dir);
        var rng = new Random(seed);
        var metadata = new Dictionary<string, object>();
        int objects = 0;
        for (int i = 0; i < count; i++)
        {
            string name = $"{prefix}_{i:D4}.jpg";
            var regions = DrawImage(rng, ref noise, o, out var image);
            using (image)
            {
                string path = Path.Combine(dir, name);
                Cv2.ImWrite(path, image, new ImageEncodingParam(ImwriteFlags.JpegQuality, 92));
                long size = new FileInfo(path).Length;
                metadata[name + size] = new Dictionary<string, object>
                {
                    ["filename"] = name,
                    ["size"] = size,
                    ["regions"] = regions.Select(r => new Dictionary<string, object>
                    {
                        ["shape_attributes"] = new Dictionary<string, object>
                        {
                            ["name"] = "polygon",
                            ["all_points_x"] = r.Xs,
                            ["all_points_y"] = r.Ys,
                        },
                        ["region_attributes"] = new Dictionary<string, object> { [CategoryAttribute] = r.Class },
                    }).ToList(),
                    ["file_attributes"] = new Dictionary<string, object>(),
                };
            }
            objects += regions.Count;
        }
        var project = new Dictionary<string, object>
        {
            ["_via_settings"] = new Dictionary<string, object> { ["project"] = new Dictionary<string, object> { ["name"] = "detsharp-demo-" + prefix } },
            ["_via_img_metadata"] = metadata,
            ["_via_attributes"] = new Dictionary<string, object>
            {
                ["region"] = new Dictionary<string, object>
                {
                    [CategoryAttribute] = new Dictionary<string, object>
                    {
                        ["type"] = "dropdown",
                        ["options"] = Classes.ToDictionary(c => c, c => (object)c),
                    },
                },
                ["file"] = new Dictionary<string, object>(),
            },
        };
        string json = Path.Combine(dir, "via_region_data.json");
        File.WriteAllText(json, JsonSerializer.Serialize(project));
        return new SplitSummary(dir, json, count, objects);
    }

    private sealed record Region(string Class, int[] Xs, int[] Ys);

    private static Scalar RandomColor(Random rng) => new(rng.Next(256), rng.Next(256), rng.Next(256));

    private static List<Region> DrawImage(Random rng, ref RNG noiseRng, SyntheticShapesOptions o, out Mat image)
    {
        int w = o.Width, h = o.Height;
        image = Background(rng, w, h);

        int wanted = rng.Next(o.MinObjects, o.MaxObjects + 1);
        var placed = new List<(int Class, Point[] Poly, Mat Mask)>();
        for (int attempt = 0; attempt < 40 && placed.Count < wanted; attempt++)
        {
            int cls = rng.Next(Classes.Count);
            var poly = Shape(rng, cls, w, h, o);
            var mask = new Mat(h, w, MatType.CV_8UC1, Scalar.All(0));
            Cv2.FillPoly(mask, [poly], Scalar.All(1));
            // Partial occlusion only: the new object may cover at most 35% of what is visible of each earlier one.
            bool ok = Cv2.CountNonZero(mask) > 0.5 * Area(poly);
            foreach (var p in placed)
            {
                if (!ok) break;
                using var inter = new Mat();
                Cv2.BitwiseAnd(mask, p.Mask, inter);
                ok = Cv2.CountNonZero(inter) <= 0.35 * Math.Max(1, Cv2.CountNonZero(p.Mask));
            }
            if (!ok) { mask.Dispose(); continue; }
            foreach (var p in placed)
            {
                using var notNew = new Mat();
                Cv2.BitwiseNot(mask, notNew);
                Cv2.BitwiseAnd(p.Mask, notNew, p.Mask);
                Cv2.Threshold(p.Mask, p.Mask, 0, 1, ThresholdTypes.Binary);
            }
            PaintObject(rng, image, poly);
            placed.Add((cls, poly, mask));
        }

        var regions = new List<Region>();
        foreach (var p in placed)
        {
            Cv2.FindContours(p.Mask, out Point[][] contours, out _, RetrievalModes.External, ContourApproximationModes.ApproxSimple);
            var largest = contours.Where(c => c.Length >= 3).OrderByDescending(c => Cv2.ContourArea(c)).FirstOrDefault();
            if (largest is not null && Cv2.ContourArea(largest) >= 30)
            {
                var simple = Cv2.ApproxPolyDP(largest, 0.8, true);
                if (simple.Length >= 3)
                    regions.Add(new Region(Classes[p.Class], simple.Select(q => q.X).ToArray(), simple.Select(q => q.Y).ToArray()));
            }
            p.Mask.Dispose();
        }

        // Sensor noise and a slight blur over everything, objects included.
        using (var noise = new Mat(h, w, MatType.CV_16SC3))
        {
            noiseRng.Fill(noise, DistributionType.Normal, Scalar.All(0), Scalar.All(o.Noise));
            using var wide = new Mat();
            image.ConvertTo(wide, MatType.CV_16SC3);
            Cv2.Add(wide, noise, wide);
            wide.ConvertTo(image, MatType.CV_8UC3);
        }
        Cv2.GaussianBlur(image, image, new Size(3, 3), 0.6);
        return regions;
    }

    private static double Area(Point[] poly) => Math.Abs(Cv2.ContourArea(poly));

    private static Mat Background(Random rng, int w, int h)
    {
        var a = RandomColor(rng);
        var b = RandomColor(rng);
        var img = new Mat(h, w, MatType.CV_8UC3);
        bool vertical = rng.Next(2) == 0;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                double t = vertical ? (double)y / h : (double)x / w;
                img.Set(y, x, new Vec3b((byte)(a.Val0 + t * (b.Val0 - a.Val0)), (byte)(a.Val1 + t * (b.Val1 - a.Val1)), (byte)(a.Val2 + t * (b.Val2 - a.Val2))));
            }
        // Clutter: lines and small blobs in muted colours, none of them an object.
        int clutter = rng.Next(4, 12);
        for (int i = 0; i < clutter; i++)
        {
            var c = RandomColor(rng);
            if (rng.Next(2) == 0)
                Cv2.Line(img, new Point(rng.Next(w), rng.Next(h)), new Point(rng.Next(w), rng.Next(h)), c, rng.Next(1, 4), LineTypes.AntiAlias);
            else
                Cv2.Circle(img, new Point(rng.Next(w), rng.Next(h)), rng.Next(2, 7), c, -1, LineTypes.AntiAlias);
        }
        return img;
    }

    private static Point[] Shape(Random rng, int cls, int w, int h, SyntheticShapesOptions o)
    {
        double shorter = Math.Min(w, h);
        double size = shorter * (o.MinSize + rng.NextDouble() * (o.MaxSize - o.MinSize));
        double cx = rng.Next((int)(size / 3), Math.Max((int)(size / 3) + 1, w - (int)(size / 3)));
        double cy = rng.Next((int)(size / 3), Math.Max((int)(size / 3) + 1, h - (int)(size / 3)));
        double angle = rng.NextDouble() * 360;
        Point[] poly;
        switch (cls)
        {
            case 0: // ellipse, clearly not a circle... or sometimes nearly one
                double ratio = 0.45 + rng.NextDouble() * 0.55;
                poly = Cv2.Ellipse2Poly(new Point((int)cx, (int)cy), new Size((int)(size / 2), (int)(size / 2 * ratio)), (int)angle, 0, 360, 8);
                break;
            case 1: // triangle: a roughly equilateral one with jittered corners
                poly = Regular(rng, cx, cy, size / 2, 3, angle, 0.12);
                break;
            default: // square
                poly = Regular(rng, cx, cy, size / 2 * 0.85, 4, angle, 0.04);
                break;
        }
        return poly.Select(p => new Point(Math.Clamp(p.X, 0, w - 1), Math.Clamp(p.Y, 0, h - 1))).ToArray();
    }

    private static Point[] Regular(Random rng, double cx, double cy, double r, int n, double angleDeg, double jitter)
    {
        var pts = new Point[n];
        for (int i = 0; i < n; i++)
        {
            double a = (angleDeg + 360.0 * i / n) * Math.PI / 180;
            double rr = r * (1 + jitter * (rng.NextDouble() * 2 - 1));
            pts[i] = new Point((int)Math.Round(cx + rr * Math.Cos(a)), (int)Math.Round(cy + rr * Math.Sin(a)));
        }
        return pts;
    }

    /// <summary>Fills the polygon with a base colour and a texture (stripes, checks or speckles) and a darker outline.</summary>
    private static void PaintObject(Random rng, Mat image, Point[] poly)
    {
        int w = image.Cols, h = image.Rows;
        var color = RandomColor(rng);
        var second = new Scalar(Math.Clamp(color.Val0 + rng.Next(-90, 91), 0, 255), Math.Clamp(color.Val1 + rng.Next(-90, 91), 0, 255),
            Math.Clamp(color.Val2 + rng.Next(-90, 91), 0, 255));
        using var layer = new Mat(h, w, MatType.CV_8UC3, color);
        int kind = rng.Next(3);
        int period = rng.Next(5, 13);
        if (kind == 0)
        {
            double a = rng.NextDouble() * Math.PI;
            var dir = new Point2d(Math.Cos(a), Math.Sin(a));
            var normal = new Point2d(-dir.Y, dir.X);
            for (int k = -(w + h); k < w + h; k += period)
            {
                var c = new Point2d(w / 2.0 + normal.X * k, h / 2.0 + normal.Y * k);
                Cv2.Line(layer, new Point(c.X - dir.X * (w + h), c.Y - dir.Y * (w + h)), new Point(c.X + dir.X * (w + h), c.Y + dir.Y * (w + h)),
                    second, Math.Max(1, period / 3), LineTypes.AntiAlias);
            }
        }
        else if (kind == 1)
        {
            for (int y = 0; y < h; y += period)
                for (int x = ((y / period) % 2) * period; x < w; x += 2 * period)
                    Cv2.Rectangle(layer, new Rect(x, y, period, period), second, -1);
        }
        else
        {
            for (int i = 0; i < w * h / 40; i++)
                Cv2.Circle(layer, new Point(rng.Next(w), rng.Next(h)), rng.Next(1, 3), second, -1);
        }
        using var mask = new Mat(h, w, MatType.CV_8UC1, Scalar.All(0));
        Cv2.FillPoly(mask, [poly], Scalar.All(255), LineTypes.AntiAlias);
        layer.CopyTo(image, mask);
        var outline = new Scalar(color.Val0 * 0.5, color.Val1 * 0.5, color.Val2 * 0.5);
        Cv2.Polylines(image, [poly], true, outline, 1, LineTypes.AntiAlias);
    }
}
