using DetSharp.Cli.Demo;
using OpenCvSharp;

namespace DetSharp.Cli.Tests.Demo;

public sealed class SyntheticShapesTests
{
    private static readonly SyntheticShapesOptions Small = new() { Seed = 5, TrainImages = 3, ValImages = 1, Width = 64, Height = 48 };

    [Fact]
    public void A_seed_gives_the_same_images_whatever_OpenCVs_own_RNG_did_before()
    {
        var first = Directory.CreateTempSubdirectory("detsharp-shapes-").FullName;
        var second = Directory.CreateTempSubdirectory("detsharp-shapes-").FullName;
        try
        {
            SyntheticShapes.Generate(first, Small);
            // Whatever else ran on this thread moves OpenCV's thread-wide generator on.
            using (var m = new Mat(16, 16, MatType.CV_8UC3)) Cv2.Randn(m, Scalar.All(0), Scalar.All(50));
            SyntheticShapes.Generate(second, Small);

            var files = Directory.GetFiles(first, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(first, f)).Order().ToList();
            Assert.Equal(files, Directory.GetFiles(second, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(second, f)).Order());
            Assert.Contains(files, f => f.EndsWith(".jpg", StringComparison.Ordinal));
            foreach (var f in files) Assert.True(File.ReadAllBytes(Path.Combine(first, f)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(second, f))), $"{f} differs");
        }
        finally
        {
            Directory.Delete(first, true);
            Directory.Delete(second, true);
        }
    }

    [Fact]
    public void The_noise_generator_starts_where_a_fresh_threads_OpenCV_RNG_starts()
    {
        // The e2e learning thresholds were calibrated on datasets whose noise came from Cv2.Randn on a fresh thread;
        // the generator's own RNG (state 0xffffffff) draws the same numbers.
        using var mine = new Mat(4, 4, MatType.CV_16SC3);
        using var fresh = new Mat(4, 4, MatType.CV_16SC3);
        var rng = new RNG(0xffffffffUL);
        rng.Fill(mine, DistributionType.Normal, Scalar.All(0), Scalar.All(8));
        var thread = new Thread(() => Cv2.Randn(fresh, Scalar.All(0), Scalar.All(8)));
        thread.Start();
        thread.Join();
        using var diff = new Mat();
        Cv2.Absdiff(mine, fresh, diff);
        Assert.Equal(0, Cv2.CountNonZero(diff.Reshape(1)));
        Assert.NotEqual(0, Cv2.CountNonZero(mine.Reshape(1)));
    }

    [Fact]
    public void Different_seeds_give_different_images()
    {
        var a = Directory.CreateTempSubdirectory("detsharp-shapes-").FullName;
        var b = Directory.CreateTempSubdirectory("detsharp-shapes-").FullName;
        try
        {
            SyntheticShapes.Generate(a, Small);
            SyntheticShapes.Generate(b, Small with { Seed = 6 });
            var jpg = Path.Combine("train", "train_0000.jpg");
            Assert.False(File.ReadAllBytes(Path.Combine(a, jpg)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(b, jpg))));
        }
        finally
        {
            Directory.Delete(a, true);
            Directory.Delete(b, true);
        }
    }
}
