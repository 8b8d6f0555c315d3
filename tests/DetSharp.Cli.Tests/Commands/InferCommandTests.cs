namespace DetSharp.Cli.Tests.Commands;

public class InferCommandTests
{
    private const string Checkpoint = "fixtures/mmdet/parity/mask_rcnn_slim.pth";
    private const string BalloonVal = "datasets/balloon/val";

    [SharedFact(Checkpoint, BalloonVal)]
    public void Draws_pictures_and_writes_results_that_coco_eval_reads()
    {
        string outDir = Directory.CreateTempSubdirectory("detsharp-infer-").FullName;
        try
        {
            string valDir = SharedData.FullPath(BalloonVal);
            var result = CliRunner.Run("infer", "configs/balloon/mask_rcnn_r18_slim_fpn_balloon.py", SharedData.FullPath(Checkpoint),
                Path.Combine(valDir, "2*.jpg"), "--out-dir", outDir, "--json", "--ann-file", Path.Combine(valDir, "annotation_coco.json"),
                "--score-thr", "0.5");

            Assert.Equal(0, result.ExitCode);
            var pictures = Directory.GetFiles(outDir, "*.jpg");
            Assert.Equal(Directory.GetFiles(valDir, "2*.jpg").Length, pictures.Length);
            Assert.Contains("wrote", result.Stdout);

            var eval = CliRunner.Run("coco-eval", Path.Combine(valDir, "annotation_coco.json"), Path.Combine(outDir, "results.json"), "--iou-type", "segm", "--json");
            Assert.Equal(0, eval.ExitCode);
            using var stats = System.Text.Json.JsonDocument.Parse(eval.Stdout);
            Assert.Equal(12, stats.RootElement.GetProperty("stats").GetArrayLength());
        }
        finally
        {
            Directory.Delete(outDir, recursive: true);
        }
    }

    /// <summary><c>--fuse-conv-bn</c> (mmcv's fuse_conv_bn) through the CLI: the same detections as the unfused model.</summary>
    [SharedFact(Checkpoint, BalloonVal)]
    public void Fusing_conv_and_BatchNorm_keeps_the_detections()
    {
        string root = Directory.CreateTempSubdirectory("detsharp-infer-fuse-").FullName;
        try
        {
            string image = Directory.GetFiles(SharedData.FullPath(BalloonVal), "*.jpg").Order(StringComparer.Ordinal).First();
            var runs = new[] { "plain", "fused" }.Select(name =>
            {
                string outDir = Path.Combine(root, name);
                string[] args = ["infer", "configs/balloon/mask_rcnn_r18_slim_fpn_balloon.py", SharedData.FullPath(Checkpoint), image, "--out-dir", outDir, "--json"];
                var result = CliRunner.Run(name == "fused" ? [.. args, "--fuse-conv-bn"] : args);
                Assert.True(result.ExitCode == 0, result.Stderr);
                if (name == "fused") Assert.Contains("--fuse-conv-bn: 20 BatchNorms folded into their convs", result.Stderr);
                using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "results.json")));
                return doc.RootElement.EnumerateArray().Select(d => (Box: d.GetProperty("bbox").EnumerateArray().Select(v => v.GetDouble()).ToArray(),
                    Score: d.GetProperty("score").GetDouble())).ToList();
            }).ToList();
            Assert.NotEmpty(runs[0]);
            Assert.Equal(runs[0].Count, runs[1].Count);
            for (int i = 0; i < runs[0].Count; i++)
            {
                Assert.Equal(runs[0][i].Score, runs[1][i].Score, 1e-4);
                for (int c = 0; c < 4; c++) Assert.Equal(runs[0][i].Box[c], runs[1][i].Box[c], 1e-2);
            }
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [SharedFact(Checkpoint, BalloonVal)]
    public void A_video_is_played_through_the_detector_and_written_annotated_with_its_frame_rate()
    {
        string dir = Directory.CreateTempSubdirectory("detsharp-infer-video-").FullName;
        try
        {
            // Five frames from three balloon pictures, written as mp4v (MPEG-4 part 2), which this OpenCV runtime reads and writes.
            string video = Path.Combine(dir, "balloons.mp4");
            var size = new OpenCvSharp.Size(320, 240);
            var frames = Directory.GetFiles(SharedData.FullPath(BalloonVal), "*.jpg").Order(StringComparer.Ordinal).Take(3).ToList();
            using (var writer = new OpenCvSharp.VideoWriter(video, OpenCvSharp.FourCC.FromString("mp4v"), 5, size))
            {
                Assert.True(writer.IsOpened(), "OpenCV cannot write mp4v here");
                foreach (var file in frames.Concat(frames.Take(2)))
                {
                    using var image = OpenCvSharp.Cv2.ImRead(file);
                    using var frame = image.Resize(size);
                    writer.Write(frame);
                }
            }
            string outDir = Path.Combine(dir, "out");

            var result = CliRunner.Run("infer", "configs/balloon/mask_rcnn_r18_slim_fpn_balloon.py", SharedData.FullPath(Checkpoint), video,
                "--out-dir", outDir, "--batch-size", "2");

            Assert.True(result.ExitCode == 0, result.Stderr);
            Assert.Matches(@"balloons\.mp4: 5 frames in [0-9.]+ s, [0-9.]+ frames/s \(read, detect, draw, write\); [1-9][0-9]* detections", result.Stdout);
            using var played = new OpenCvSharp.VideoCapture(Path.Combine(outDir, "balloons.mp4"));
            Assert.True(played.IsOpened());
            Assert.Equal((320, 240), (played.FrameWidth, played.FrameHeight));
            using var source = new OpenCvSharp.VideoCapture(video);
            int count = 0, annotated = 0;
            using var a = new OpenCvSharp.Mat();
            using var b = new OpenCvSharp.Mat();
            while (played.Read(a) && !a.Empty() && source.Read(b))
            {
                count++;
                using var diff = new OpenCvSharp.Mat();
                OpenCvSharp.Cv2.Absdiff(a, b, diff);
                // More than compression noise: boxes, masks and labels were drawn.
                if (OpenCvSharp.Cv2.CountNonZero(diff.CvtColor(OpenCvSharp.ColorConversionCodes.BGR2GRAY).Threshold(60, 255, OpenCvSharp.ThresholdTypes.Binary)) > 200) annotated++;
            }
            Assert.Equal(5, count);
            Assert.Equal(5, annotated);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void A_missing_input_is_named()
    {
        var result = CliRunner.Run("infer", "configs/balloon/mask_rcnn_r18_slim_fpn_balloon.py", "none.pth", "no/such/image.jpg");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("no/such/image.jpg: no such image file or folder", result.Stderr);
    }
}
