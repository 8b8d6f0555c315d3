using DetSharp.Apis;
using DetSharp.Tests.Models;
using OpenCvSharp;

namespace DetSharp.Tests.Apis;

/// <summary>
/// The embedding API (MMDetection's init_detector + inference_detector) on the slim MMDetection checkpoint: class
/// names from its meta, and the same detections MMDetection computed for the first balloon val image.
/// </summary>
public class DetectorTests
{
    private const string Image = "datasets/balloon/val/24631331976_defa3bb61f_k.jpg";

    // The slim balloon config is the parity model's architecture; these options restore the parity run's test
    // settings (1333x800 test scale, score_thr 0, RPN 1000 proposals).
    private static readonly string[] ParityOptions =
    [
        "data.test.pipeline.1.img_scale=(1333,800)",
        "model.test_cfg.rcnn.score_thr=0.0",
        "model.test_cfg.rpn.nms_pre=1000",
        "model.test_cfg.rpn.max_per_img=1000",
    ];

    private static Detector Load() => Detector.FromConfig(
        ModelFixtures.RepoConfig("balloon/mask_rcnn_r18_slim_fpn_balloon.py"),
        SharedData.FullPath("fixtures/mmdet/parity/mask_rcnn_slim.pth"), "cpu", ParityOptions);

    [SharedFact("fixtures/mmdet/parity/mask_rcnn_slim.pth")]
    public void Class_names_come_from_the_checkpoint_meta()
    {
        using var detector = Load();

        Assert.Equal(["balloon"], detector.ClassNames);
        Assert.Empty(detector.Warnings);
    }

    [SharedFact("fixtures/mmdet/parity/mask_rcnn_slim.pth")]
    public void Infer_gives_mmdetections_top_detections_in_original_image_coordinates()
    {
        using var detector = Load();
        using var fixture = SharedData.LoadJson("fixtures/mmdet/parity/mask_rcnn_slim.outputs.json");
        var expected = fixture.RootElement.GetProperty("test")[0].GetProperty("bbox_results")[0]
            .EnumerateArray().Select(d => d.EnumerateArray().Select(v => v.GetSingle()).ToArray())
            .OrderByDescending(d => d[4]).ToList();

        var result = detector.Infer(SharedData.FullPath(Image));

        Assert.Equal(1323, result.Width);
        Assert.Equal(2048, result.Height);
        Assert.Equal(100, result.Detections.Count);
        // The top 10 are far from the 100-detection cutoff's near-ties (fixture README).
        for (int i = 0; i < 10; i++)
        {
            var d = result.Detections[i];
            Assert.Equal(expected[i][4], d.Score, 1e-4);
            Assert.Equal(expected[i][0], d.X1, 1e-3);
            Assert.Equal(expected[i][1], d.Y1, 1e-3);
            Assert.Equal(expected[i][2], d.X2, 1e-3);
            Assert.Equal(expected[i][3], d.Y2, 1e-3);
            Assert.Equal("balloon", d.ClassName);
            Assert.NotNull(d.Mask);
            Assert.Equal((2048, 1323), (d.Mask!.Height, d.Mask.Width));
        }
    }

    [SharedFact("fixtures/mmdet/parity/mask_rcnn_slim.pth")]
    public void An_image_in_memory_gives_the_same_detections_as_its_file()
    {
        using var detector = Load();
        string path = SharedData.FullPath(Image);
        using var image = Cv2.ImRead(path, ImreadModes.Color);

        var fromFile = detector.Infer(path);
        var fromMemory = detector.Infer(image);

        Assert.Equal(fromFile.Detections.Count, fromMemory.Detections.Count);
        for (int i = 0; i < fromFile.Detections.Count; i++)
        {
            Assert.Equal(fromFile.Detections[i].Score, fromMemory.Detections[i].Score);
            Assert.Equal(fromFile.Detections[i].X1, fromMemory.Detections[i].X1);
        }
        Assert.Null(fromMemory.Source);
    }

    [SharedFact("fixtures/mmdet/parity/mask_rcnn_slim.pth")]
    public async Task InferBatchAsync_runs_a_batch_through_one_forward_and_equals_image_by_image_inference()
    {
        using var detector = Load();
        // Three balloon images brought to one size, so the batch needs no padding beyond each image's own: then one forward
        // pass of three gives what three single passes give. (Images of different sizes are padded to the largest, and the
        // padding changes the deep features near the bottom/right edges, as in MMDetection's batched test.)
        var paths = Directory.GetFiles(SharedData.FullPath("datasets/balloon/val"), "*.jpg").Order(StringComparer.Ordinal).Take(3).ToList();
        var images = paths.Select(p =>
        {
            using var full = Cv2.ImRead(p, ImreadModes.Color);
            return full.Resize(new Size(1024, 683));
        }).ToList();
        var reports = new List<InferenceProgress>();

        var batched = new List<DetectionSet>();
        await foreach (var result in detector.InferBatchAsync(images, batchSize: 3, new SyncProgress<InferenceProgress>(reports.Add)))
            batched.Add(result);
        var single = images.Select(detector.Infer).ToList();

        Assert.Equal([new InferenceProgress(3, 3)], reports); // one batch, one forward
        for (int n = 0; n < images.Count; n++)
        {
            Assert.Equal(single[n].Detections.Count, batched[n].Detections.Count);
            var expected = single[n].Above(0.3f).ToList();
            Assert.NotEmpty(expected);
            // Each confident detection is in the batched result with the same box and score (equal scores may swap places).
            foreach (var d in expected)
                Assert.Contains(batched[n].Detections, b => Math.Abs(b.Score - d.Score) < 1e-4
                                                            && Math.Abs(b.X1 - d.X1) < 0.05 && Math.Abs(b.Y1 - d.Y1) < 0.05
                                                            && Math.Abs(b.X2 - d.X2) < 0.05 && Math.Abs(b.Y2 - d.Y2) < 0.05);
        }

        // Files: results in input order, named after them; two batches (2 + 1), progress after each.
        reports.Clear();
        var fromFiles = new List<DetectionSet>();
        await foreach (var result in detector.InferBatchAsync(paths, batchSize: 2, new SyncProgress<InferenceProgress>(reports.Add)))
            fromFiles.Add(result);
        Assert.Equal(paths, fromFiles.Select(r => r.Source));
        Assert.Equal([new InferenceProgress(2, 3), new InferenceProgress(3, 3)], reports);

        // Cancelled: no batch starts.
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in detector.InferBatchAsync(paths, 2, cancellationToken: cts.Token)) { }
        });
        foreach (var image in images) image.Dispose();
    }

    /// <summary>Reports on the calling thread, in order (Progress&lt;T&gt; would post them to the thread pool).</summary>
    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }

    [Fact]
    public void A_cuda_device_without_cuda_libtorch_is_explained()
    {
        if (TorchSharp.torch.cuda.is_available()) return; // only meaningful on the CPU build
        var e = Assert.Throws<DetSharpException>(() => Detector.FromConfig(
            ModelFixtures.RepoConfig("balloon/mask_rcnn_r18_slim_fpn_balloon.py"), null, "cuda"));
        Assert.Contains("has no CUDA", e.Message);
    }
}
