using System.Diagnostics;
using System.Globalization;
using System.Text;
using DetSharp.Config;
using DetSharp.Datasets;
using OpenCvSharp;

/// <summary>
/// Images/s of the seed config's Cityscapes training pipeline (Load, LoadAnnotations with masks, AutoAugment
/// Rotate/Translate, Resize [(2048,800),(2048,1024)] range, RandomFlip, Normalize, Pad 32, DefaultFormatBundle,
/// Collect) on synthetic 2048×1024 PNGs with 20 polygon instances each, through the DataLoader with 1 and 2 workers.
/// </summary>
internal static class PipelineBench
{
    public static void Run(int images)
    {
        string dir = Path.Combine(Path.GetTempPath(), "detsharp-bench-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        try
        {
            var rng = new Random(0);
            var json = new StringBuilder("{\"images\": [");
            var anns = new StringBuilder();
            int annId = 1;
            for (int i = 0; i < images; i++)
            {
                using var img = new Mat(1024, 2048, MatType.CV_8UC3);
                Cv2.Randu(img, Scalar.All(0), Scalar.All(255));
                Cv2.GaussianBlur(img, img, new Size(31, 31), 0);
                Cv2.ImWrite(Path.Combine(dir, $"img{i}.png"), img);
                json.Append(CultureInfo.InvariantCulture, $"{(i > 0 ? "," : "")}{{\"id\": {i}, \"file_name\": \"img{i}.png\", \"width\": 2048, \"height\": 1024}}");
                for (int k = 0; k < 20; k++)
                {
                    double x = rng.Next(0, 1800), y = rng.Next(0, 800), w = rng.Next(20, 240), h = rng.Next(20, 220);
                    string poly = string.Join(", ", Enumerable.Range(0, 8).Select(j =>
                    {
                        double a = j * Math.PI / 4;
                        return FormattableString.Invariant($"{x + w / 2 + w / 2 * Math.Cos(a):F1}, {y + h / 2 + h / 2 * Math.Sin(a):F1}");
                    }));
                    if (anns.Length > 0) anns.Append(',');
                    anns.Append(CultureInfo.InvariantCulture,
                        $"{{\"id\": {annId++}, \"image_id\": {i}, \"category_id\": {24 + k % 3}, \"bbox\": [{x}, {y}, {w}, {h}], \"area\": {w * h}, \"iscrowd\": 0, \"segmentation\": [[{poly}]]}}");
                }
            }
            json.Append("], \"annotations\": [").Append(anns).Append("], \"categories\": [{\"id\": 24, \"name\": \"person\"}, {\"id\": 25, \"name\": \"rider\"}, {\"id\": 26, \"name\": \"car\"}]}");
            File.WriteAllText(Path.Combine(dir, "ann.json"), json.ToString());

            string pipeline = """
                [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
                 dict(type='AutoAugment', policies=[[dict(type='Rotate', level=5, img_fill_val=(124, 116, 104), prob=0.5, scale=1)],
                     [dict(type='Rotate', level=7, img_fill_val=(124, 116, 104)), dict(type='Translate', level=5, prob=0.5, img_fill_val=(124, 116, 104))]]),
                 dict(type='Resize', img_scale=[(2048, 800), (2048, 1024)], keep_ratio=True), dict(type='RandomFlip', flip_ratio=0.5),
                 dict(type='Normalize', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True), dict(type='Pad', size_divisor=32),
                 dict(type='DefaultFormatBundle'), dict(type='Collect', keys=['img', 'gt_bboxes', 'gt_labels', 'gt_masks'])]
                """;
            var cfg = PyConfigParser.Evaluate($"x = dict(type='CityscapesDataset', ann_file='{dir}/ann.json', img_prefix='{dir}/', pipeline={pipeline})\n", "bench.py")
                .Get<ConfigDict>("x");
            var dataset = DatasetBuilder.Build(cfg);
            foreach (int workers in new[] { 1, 2 })
            {
                var loader = new DataLoader(dataset, samplesPerGpu: 1, workersPerGpu: workers, seed: 0);
                foreach (var b in loader.Epoch(99).Take(2)) b.Dispose(); // warm-up
                var sw = Stopwatch.StartNew();
                int n = 0;
                foreach (var batch in loader.Epoch(0))
                {
                    n += batch.Samples.Count;
                    batch.Dispose();
                }
                sw.Stop();
                Console.WriteLine(FormattableString.Invariant($"cityscapes train pipeline, workers={workers}: {n} images in {sw.Elapsed.TotalSeconds:F2} s = {n / sw.Elapsed.TotalSeconds:F2} images/s"));
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
