using DetSharp.Datasets;
using DetSharp.Structures;

namespace DetSharp.Tests.Datasets;

/// <summary>Collation: padding to the batch maximum, ground truth as tensors, and the loader's padded buffer used as is.</summary>
public sealed class DetCollateTests
{
    private static DetSample Sample(int h, int w, float fill, float[]? boxes = null)
    {
        var chw = Enumerable.Repeat(fill, 3 * h * w).ToArray();
        return new DetSample
        {
            ImageChw = chw, ImageChwShape = (3, h, w), ImgShape = new ImageShape(h, w, 3), OriShape = new ImageShape(h * 2, w * 2, 3),
            ScaleFactor = [0.5f, 0.5f, 0.5f, 0.5f], Filename = $"{h}x{w}.jpg",
            GtBboxes = boxes, GtLabels = boxes is null ? null : new long[boxes.Length / 4],
            GtMasks = boxes is null ? null : new BitmapMasks(Enumerable.Range(0, boxes.Length / 4).Select(_ => new byte[h * w]).ToArray(), h, w),
        };
    }

    [Fact]
    public void Collate_PadsBottomRightToBatchMax_AndMakesGtTensors()
    {
        using var a = Sample(4, 6, 1f, [0, 0, 2, 2]);
        using var b = Sample(5, 3, 2f, [1, 1, 2, 2, 0, 0, 1, 1]);
        using var batch = DetCollate.Collate([a, b], withGt: true);
        Assert.Equal(new long[] { 2, 3, 5, 6 }, batch.Img.shape);
        Assert.Equal(1f, batch.Img[0, 2, 3, 5].item<float>());
        Assert.Equal(0f, batch.Img[0, 0, 4, 0].item<float>()); // padded row
        Assert.Equal(2f, batch.Img[1, 1, 4, 2].item<float>());
        Assert.Equal(0f, batch.Img[1, 1, 0, 3].item<float>()); // padded column
        Assert.Equal(2, batch.NumSamples);
        Assert.Equal((4, 6), batch.ImgMetas[0].ImgShape);
        Assert.Equal((8, 12), batch.ImgMetas[0].OriShape);
        Assert.Equal(new long[] { 2, 4 }, batch.GtBboxes![1].shape);
        Assert.Equal(TorchSharp.torch.ScalarType.Int64, batch.GtLabels![1].dtype);
        Assert.Equal(2, batch.GtMasks![1].Count);
        Assert.Null(batch.GtBboxesIgnore![0]);
        using var padded = DetCollate.Collate([a], withGt: false, sizeDivisor: 32);
        Assert.Equal(new long[] { 1, 3, 32, 32 }, padded.Img.shape);
        Assert.Null(padded.GtBboxes);
    }

    [Fact]
    public void A_loader_batch_becomes_the_image_tensor_without_a_copy()
    {
        var batch = DetBatch.Collate([Sample(4, 6, 1f, [0, 0, 2, 2]), Sample(5, 3, 2f, [1, 1, 2, 2])], [0, 1]);
        using var collated = DetCollate.FromBatch(batch, withGt: true, owner: batch);
        Assert.Equal(new long[] { 2, 3, 5, 6 }, collated.Img.shape);
        Assert.Equal(2f, collated.Img[1, 1, 4, 2].item<float>());
        // The tensor is the loader's buffer: a write to one shows in the other.
        batch.Images![((1 * 3 + 1) * 5 + 4) * 6 + 2] = 7f;
        Assert.Equal(7f, collated.Img[1, 1, 4, 2].item<float>());
        collated.Img[0, 0, 0, 0] = TorchSharp.torch.tensor(5f);
        Assert.Equal(5f, batch.Images[0]);
    }

    [Fact]
    public void A_sample_without_an_image_tensor_names_the_pipeline_steps()
    {
        using var sample = new DetSample { ImgShape = new ImageShape(4, 4, 3), OriShape = new ImageShape(4, 4, 3), Filename = "a.jpg", OriFilename = "a.jpg" };
        var e = Assert.Throws<DetSharpException>(() => DetCollate.Collate([sample], withGt: false));
        Assert.Contains("'a.jpg' has no image tensor", e.Message);
        Assert.Contains("DefaultFormatBundle", e.Message);
    }
}
