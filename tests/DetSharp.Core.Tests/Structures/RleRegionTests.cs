using DetSharp.Structures;

namespace DetSharp.Core.Tests.Structures;

/// <summary>Encoding only a mask's non-zero rectangle gives exactly the RLE of the whole mask.</summary>
public class RleRegionTests
{
    [Theory]
    [InlineData(0, 7, 0, 5)]   // the whole 7x5 image
    [InlineData(2, 5, 1, 4)]   // an inner rectangle
    [InlineData(0, 3, 3, 5)]   // touching the top and the right edge
    [InlineData(4, 7, 0, 2)]   // touching the bottom and the left edge
    [InlineData(3, 3, 1, 4)]   // empty rows
    [InlineData(1, 6, 2, 2)]   // empty columns
    public void Region_encoding_equals_full_encoding(int y0, int y1, int x0, int x1)
    {
        const int H = 7, W = 5;
        var rng = new Random(y0 * 131 + y1 * 17 + x0 * 7 + x1);
        for (int trial = 0; trial < 50; trial++)
        {
            int rh = y1 - y0, rw = x1 - x0;
            var region = new byte[rh * rw];
            double density = trial % 5 == 0 ? 1.0 : trial % 5 == 1 ? 0.0 : rng.NextDouble();
            for (int i = 0; i < region.Length; i++) region[i] = rng.NextDouble() < density ? (byte)1 : (byte)0;
            var full = new byte[H * W];
            for (int y = 0; y < rh; y++)
                for (int x = 0; x < rw; x++) full[(y0 + y) * W + x0 + x] = region[y * rw + x];

            var expected = Rle.Encode(full, H, W);
            var actual = Rle.EncodeRegion(region, y0, y1, x0, x1, H, W);

            Assert.Equal(expected.Counts, actual.Counts);
        }
    }
}
