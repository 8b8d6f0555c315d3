using System.Text;

namespace DetSharp.Structures;

/// <summary>
/// A COCO run-length-encoded binary mask, identical to pycocotools' <c>maskApi</c> <c>RLE</c>:
/// <see cref="Counts"/> are run lengths over the pixels in column-major (Fortran) order
/// (down the first column, then the next), alternating background / foreground and always
/// starting with a (possibly empty) background run.
/// </summary>
public sealed class Rle
{
    public Rle(int height, int width, uint[] counts)
    {
        ArgumentNullException.ThrowIfNull(counts);
        Height = height;
        Width = width;
        Counts = counts;
    }

    public int Height { get; }

    public int Width { get; }

    /// <summary>Run lengths, column-major, starting with background. Not copied: treat as read-only.</summary>
    public uint[] Counts { get; }

    /// <summary>
    /// Encodes a binary mask (<c>maskApi rleEncode</c>). <paramref name="mask"/> is ROW-major
    /// (<c>mask[y * width + x]</c>, as an OpenCV <c>Mat</c> or a C-order numpy array); any non-zero byte is foreground.
    /// </summary>
    public static Rle Encode(ReadOnlySpan<byte> mask, int height, int width)
    {
        if (height < 0 || width < 0 || mask.Length != (long)height * width)
            throw new ArgumentException($"mask has {mask.Length} bytes, expected height*width = {(long)height * width}.");
        var counts = new List<uint>();
        bool previous = false;
        uint run = 0;
        for (int x = 0; x < width; x++)
        {
            for (int y = 0, i = x; y < height; y++, i += width)
            {
                bool value = mask[i] != 0;
                if (value != previous)
                {
                    counts.Add(run);
                    run = 0;
                    previous = value;
                }
                run++;
            }
        }
        counts.Add(run);
        return new Rle(height, width, counts.ToArray());
    }

    /// <summary>
    /// Encodes a mask that is zero outside the rectangle rows [<paramref name="y0"/>, <paramref name="y1"/>) × columns
    /// [<paramref name="x0"/>, <paramref name="x1"/>) of a <paramref name="height"/> × <paramref name="width"/> image,
    /// given only that rectangle (<paramref name="region"/>, row-major, <c>(y1 − y0) × (x1 − x0)</c>). Equal to
    /// <see cref="Encode"/> of the full mask, in time proportional to the rectangle: how pasted instance masks
    /// are encoded without touching the whole image.
    /// </summary>
    public static Rle EncodeRegion(ReadOnlySpan<byte> region, int y0, int y1, int x0, int x1, int height, int width)
    {
        int rh = y1 - y0, rw = x1 - x0;
        if (y0 < 0 || x0 < 0 || y1 > height || x1 > width || rh < 0 || rw < 0 || region.Length != (long)rh * rw)
            throw new ArgumentException($"region [{y0}, {y1}) x [{x0}, {x1}) with {region.Length} bytes does not fit a {height}x{width} mask.");
        var counts = new List<uint>();
        bool previous = false;
        // Everything before column x0, then the rows above y0 of column x0, are background.
        ulong run = (ulong)x0 * (ulong)height + (ulong)y0;
        for (int x = 0; x < rw; x++)
        {
            for (int y = 0, i = x; y < rh; y++, i += rw)
            {
                bool value = region[i] != 0;
                if (value != previous)
                {
                    counts.Add(checked((uint)run));
                    run = 0;
                    previous = value;
                }
                run++;
            }
            // Rows below y1 of this column (and above y0 of the next one) lie outside the region.
            ulong background = x + 1 < rw ? (ulong)(height - rh) : (ulong)(height - y1) + (ulong)(width - x1) * (ulong)height;
            if (background == 0) continue;
            if (previous)
            {
                counts.Add(checked((uint)run));
                run = 0;
                previous = false;
            }
            run += background;
        }
        if (rw == 0) run = (ulong)height * (ulong)width;
        counts.Add(checked((uint)run));
        return new Rle(height, width, counts.ToArray());
    }

    /// <summary>Decodes into a ROW-major mask of 0/1 bytes (<c>destination[y * Width + x]</c>).</summary>
    public void Decode(Span<byte> destination)
    {
        long area = (long)Height * Width;
        if (destination.Length < area)
            throw new ArgumentException($"destination has {destination.Length} bytes, the mask needs {area}.");
        destination[..(int)area].Clear();
        long position = 0;
        byte value = 0;
        foreach (uint count in Counts)
        {
            if (value != 0)
            {
                for (long p = position, end = Math.Min(position + count, area); p < end; p++)
                {
                    long x = p / Height, y = p - x * Height;
                    destination[(int)(y * Width + x)] = 1;
                }
            }
            position += count;
            value ^= 1;
        }
    }

    /// <summary>Decodes into a new ROW-major H×W array of 0/1 bytes.</summary>
    public byte[] Decode()
    {
        var mask = new byte[checked(Height * Width)];
        Decode(mask);
        return mask;
    }

    /// <summary>Foreground pixel count (<c>rleArea</c>: the sum of the odd-indexed runs, in uint arithmetic).</summary>
    public uint Area()
    {
        uint area = 0;
        var counts = Counts;
        for (int j = 1; j < counts.Length; j += 2) area += counts[j];
        return area;
    }

    /// <summary>Bounding box <c>[x, y, w, h]</c> exactly as <c>rleToBbox</c> computes it (an empty mask gives zeros).</summary>
    public BoxXywh ToBbox()
    {
        uint h = (uint)Height, w = (uint)Width;
        int m = Counts.Length / 2 * 2;
        if (m == 0) return default;
        uint xs = w, ys = h, xe = 0, ye = 0, cc = 0, xp = 0;
        var counts = Counts;
        for (int j = 0; j < m; j++)
        {
            cc += counts[j];
            uint t = cc - (uint)(j % 2);
            uint y = t % h, x = (t - y) / h;
            if (j % 2 == 0) xp = x;
            else if (xp < x) { ys = 0; ye = h - 1; }
            xs = Math.Min(xs, x); xe = Math.Max(xe, x); ys = Math.Min(ys, y); ye = Math.Max(ye, y);
        }
        return new BoxXywh(xs, ys, xe - xs + 1, ye - ys + 1);
    }

    /// <summary>
    /// Union (or intersection) of masks of the same size (<c>rleMerge</c>). Sizes that differ give an empty 0×0 RLE,
    /// as pycocotools does; an empty list gives a 0×0 RLE with no runs.
    /// </summary>
    public static Rle Merge(IReadOnlyList<Rle> rles, bool intersect = false)
    {
        ArgumentNullException.ThrowIfNull(rles);
        if (rles.Count == 0) return new Rle(0, 0, []);
        var first = rles[0];
        if (rles.Count == 1) return new Rle(first.Height, first.Width, (uint[])first.Counts.Clone());
        int h = first.Height, w = first.Width;
        var cnts = new uint[(long)h * w + 1 > first.Counts.Length ? (long)h * w + 1 : first.Counts.Length];
        first.Counts.CopyTo(cnts, 0);
        int m = first.Counts.Length;
        var a = new uint[cnts.Length];
        for (int i = 1; i < rles.Count; i++)
        {
            var bRle = rles[i];
            if (bRle.Height != h || bRle.Width != w) { h = w = m = 0; break; }
            Array.Copy(cnts, a, m);
            int am = m;
            var b = bRle.Counts;
            int bm = b.Length;
            uint ca = am > 0 ? a[0] : 0, cb = bm > 0 ? b[0] : 0, cc = 0;
            bool v = false, va = false, vb = false;
            int ia = 1, ib = 1;
            m = 0;
            uint ct = 1;
            while (ct > 0)
            {
                uint c = Math.Min(ca, cb);
                cc += c; ct = 0;
                ca -= c; if (ca == 0 && ia < am) { ca = a[ia++]; va = !va; }
                ct += ca;
                cb -= c; if (cb == 0 && ib < bm) { cb = b[ib++]; vb = !vb; }
                ct += cb;
                bool vp = v;
                v = intersect ? va && vb : va || vb;
                if (v != vp || ct == 0) { cnts[m++] = cc; cc = 0; }
            }
        }
        return new Rle(h, w, cnts.AsSpan(0, m).ToArray());
    }

    /// <summary>Union of the given masks (<c>mask.merge(rles)</c>).</summary>
    public static Rle Merge(params Rle[] rles) => Merge((IReadOnlyList<Rle>)rles, false);

    /// <summary>The compressed COCO counts string (<c>rleToString</c>: LEB128-like, 5 bits per char, ASCII 48..111, deltas from i-2).</summary>
    public string ToCompressedString()
    {
        var counts = Counts;
        var sb = new StringBuilder(counts.Length * 2);
        for (int i = 0; i < counts.Length; i++)
        {
            long x = counts[i];
            if (i > 2) x -= counts[i - 2];
            bool more = true;
            while (more)
            {
                int c = (int)(x & 0x1f);
                x >>= 5;
                more = (c & 0x10) != 0 ? x != -1 : x != 0;
                if (more) c |= 0x20;
                sb.Append((char)(c + 48));
            }
        }
        return sb.ToString();
    }

    /// <summary>Parses a compressed COCO counts string (<c>rleFrString</c>).</summary>
    public static Rle FromCompressedString(string counts, int height, int width)
    {
        ArgumentNullException.ThrowIfNull(counts);
        var cnts = new uint[counts.Length];
        int m = 0, p = 0;
        while (p < counts.Length)
        {
            long x = 0;
            int k = 0;
            bool more = true;
            while (more)
            {
                if (p >= counts.Length)
                    throw new FormatException($"Compressed RLE counts string ends inside a number (at character {p}).");
                int c = counts[p] - 48;
                // pycocotools' encoder writes 6 bits per character ('0'..'o') and at most 7 characters per count.
                if (c is < 0 or > 63)
                    throw new FormatException($"Compressed RLE counts string holds '{counts[p]}' at character {p}, outside COCO's alphabet '0'..'o'.");
                if (k >= 13)
                    throw new FormatException($"Compressed RLE counts string has a number longer than 13 characters at character {p}.");
                x |= (long)((c & 0x1f) << (5 * k));
                more = (c & 0x20) != 0;
                p++; k++;
                if (!more && (c & 0x10) != 0) x |= (long)(-1 << (5 * k));
            }
            if (m > 2) x += cnts[m - 2];
            cnts[m++] = unchecked((uint)x);
        }
        return new Rle(height, width, cnts.AsSpan(0, m).ToArray());
    }

    /// <summary>An RLE from uncompressed counts (pycocotools' <c>frUncompressedRLE</c>; counts cast to uint32).</summary>
    public static Rle FromUncompressed(ReadOnlySpan<long> counts, int height, int width)
    {
        var cnts = new uint[counts.Length];
        for (int i = 0; i < counts.Length; i++) cnts[i] = unchecked((uint)counts[i]);
        return new Rle(height, width, cnts);
    }

    public override string ToString() => $"Rle({Height}x{Width}, {Counts.Length} runs, area {Area()})";
}
