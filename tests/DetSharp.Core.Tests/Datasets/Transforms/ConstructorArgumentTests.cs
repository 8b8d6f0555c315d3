using DetSharp.Config;
using DetSharp.Datasets;
using DetSharp.Datasets.Transforms;
using DetSharp.Structures;
using OpenCvSharp;

namespace DetSharp.Core.Tests.Datasets.Transforms;

/// <summary>Pipeline arguments a config may set are honoured or refused, never dropped.</summary>
public sealed class ConstructorArgumentTests
{
    private static DetSample Formatted(DefaultFormatBundle bundle, int h, int w)
    {
        var s = new DetSample();
        s.SetImg(new Mat(h, w, MatType.CV_32FC3, new Scalar(1, 1, 1)));
        return bundle.Apply(s, new Random(0))!;
    }

    [Fact]
    public void DefaultFormatBundle_PadValImg_IsWhatCollationPadsTheBatchWith()
    {
        var bundle = new DefaultFormatBundle(padVal: new ConfigDict { ["img"] = 3L, ["masks"] = 0L, ["seg"] = 255L });
        using var batch = DetBatch.Collate([Formatted(bundle, 2, 2), Formatted(bundle, 1, 3)], [0, 1]);
        Assert.Equal((2, 3, 2, 3), batch.Shape);
        // Image 0 is 2×2 in a 2×3 batch: its third column is padding; image 1 is 1×3: its second row is.
        var plane0 = batch.Images!.AsSpan(0, 6).ToArray();
        Assert.Equal([1f, 1, 3, 1, 1, 3], plane0);
        var plane1 = batch.Images!.AsSpan(3 * 6, 6).ToArray();
        Assert.Equal([1f, 1, 1, 3, 3, 3], plane1);
    }

    [Fact]
    public void DefaultFormatBundle_WithoutPadVal_PadsWithZeros()
    {
        var bundle = new DefaultFormatBundle();
        using var batch = DetBatch.Collate([Formatted(bundle, 2, 2), Formatted(bundle, 1, 3)], [0, 1]);
        Assert.Equal([1f, 1, 0, 1, 1, 0], batch.Images!.AsSpan(0, 6).ToArray());
    }

    [Fact]
    public void DefaultFormatBundle_RefusesImgToFloatFalseAndUnknownPadKeys()
    {
        Assert.Contains("img_to_float=False is not supported", Assert.Throws<DetSharpException>(() => new DefaultFormatBundle(imgToFloat: false)).Message);
        Assert.Contains("unknown key 'image'", Assert.Throws<DetSharpException>(() => new DefaultFormatBundle(padVal: new ConfigDict { ["image"] = 0L })).Message);
    }

    [Fact]
    public void FileClientArgs_DiskIsRead_OtherBackendsAreRefused()
    {
        _ = new LoadImageFromFile(fileClientArgs: new ConfigDict { ["backend"] = "disk" });
        var e = Assert.Throws<DetSharpException>(() => new LoadImageFromFile(fileClientArgs: new ConfigDict { ["backend"] = "petrel" }));
        Assert.Contains("LoadImageFromFile: file_client_args", e.Message);
        Assert.Contains("DetSharp reads local files", e.Message);
    }

    [Fact]
    public void SegRescale_PassesASampleWithoutSegmentationMaps_AndRescalesMapsNearest()
    {
        using var plain = new DetSample();
        plain.SetImg(new Mat(4, 4, MatType.CV_8UC3, new Scalar(1, 2, 3)));
        var rescale = new SegRescale(scaleFactor: 0.125);
        Assert.Same(plain, rescale.Apply(plain, new Random(0)));
        Assert.Equal(4, plain.Img!.Rows);
        // A 16×24 map of row·24 + column: 1/8 gives int(24/8 + 0.5) × int(16/8 + 0.5) = 3×2, every 8th pixel.
        using var withSeg = new DetSample { SegFields = ["gt_semantic_seg"] };
        withSeg.SetSeg("gt_semantic_seg", new SegMap(Enumerable.Range(0, 16 * 24).Select(i => (byte)(i % 251)).ToArray(), 16, 24));
        rescale.Apply(withSeg, new Random(0));
        var seg = withSeg.GetSeg("gt_semantic_seg")!;
        Assert.Equal((2, 3), (seg.Height, seg.Width));
        Assert.Equal(new byte[] { 0, 8, 16, 192 % 251, 200 % 251, 208 % 251 }, seg.Data);
        Assert.Throws<DetSharpException>(() => new SegRescale(scaleFactor: 0));
    }
}
