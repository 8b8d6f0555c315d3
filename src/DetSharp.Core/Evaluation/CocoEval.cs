using System.Globalization;
using System.Text;
using DetSharp.Structures;

namespace DetSharp.Evaluation;

/// <summary>
/// pycocotools' <c>COCOeval</c> for bbox and segm, reproduced exactly: <see cref="Evaluate"/> (per image × category
/// greedy matching), <see cref="Accumulate"/> (101-point interpolated precision) and <see cref="Summarize"/> (the 12 stats).
/// Images (evaluate) and categories (accumulate) run in parallel; IoUs of masks are computed on run lengths.
/// </summary>
public sealed class CocoEval
{
    private readonly CocoApi _gt;
    private readonly CocoApi _dt;

    // evaluated state
    private long[] _imgIds = [];
    private long[] _catIds = [];
    private int[] _maxDets = [];
    private double[] _iouThrs = [];
    private CocoAreaRange[] _areaRanges = [];
    private EvalUnit?[] _units = [];
    private int _unitCats;

    public CocoEval(CocoApi groundTruth, CocoApi detections, CocoIouType iouType = CocoIouType.Bbox)
    {
        _gt = groundTruth;
        _dt = detections;
        Params = new CocoEvalParams(iouType);
    }

    public CocoEvalParams Params { get; }

    /// <summary>Precision, shape [T, R, K, A, M] row-major (-1 where absent); set by <see cref="Accumulate"/>.</summary>
    public double[] Precision { get; private set; } = [];

    /// <summary>Recall, shape [T, K, A, M] row-major; set by <see cref="Accumulate"/>.</summary>
    public double[] Recall { get; private set; } = [];

    /// <summary>Scores at the recall thresholds, shape [T, R, K, A, M].</summary>
    public double[] Scores { get; private set; } = [];

    /// <summary>The 12 summary stats; set by <see cref="Summarize"/>.</summary>
    public double[] Stats { get; private set; } = [];

    /// <summary>The 12 lines pycocotools' <c>summarize()</c> prints.</summary>
    public string SummaryText { get; private set; } = "";

    /// <summary>Category ids in precision's K order (sorted unique; a single -1 when <c>UseCats</c> is false).</summary>
    public IReadOnlyList<long> EvaluatedCatIds => Params.UseCats ? _catIds : [-1];

    /// <summary>Evaluate, accumulate and summarize; returns the 12 stats.</summary>
    public double[] Run()
    {
        Evaluate();
        Accumulate();
        return Summarize();
    }

    /// <summary>One image × category result, shared by all area ranges.</summary>
    private sealed class EvalUnit
    {
        public required double[] DtScores;          // D, sorted by score (desc, stable)
        public required byte[] Codes;               // [A][T][D]: bit0 = matched to a gt with id != 0, bit1 = ignored
        public required int[] NumPositives;         // [A]: gts not ignored
    }

    /// <summary>Per-thread buffers for <see cref="EvaluateUnit"/>, so the hot loop allocates only its results.</summary>
    private sealed class UnitScratch
    {
        public int[] Order = new int[16];
        public double[] Scores = new double[16];
        public CocoAnnotation[] Dts = new CocoAnnotation[16];
        public double[] Ious = new double[64];
        public bool[] GtIgnore = new bool[16], GtIg = new bool[16], GtCrowd = new bool[16], GtMatched = new bool[16];
        public int[] GtOrder = new int[16];
        public long[] GtIds = new long[16];
        public BoxXywh[] DtBoxes = new BoxXywh[16], GtBoxes = new BoxXywh[16];

        public static void Ensure<T>(ref T[] buffer, int size)
        {
            if (buffer.Length < size) buffer = new T[Math.Max(size, buffer.Length * 2)];
        }
    }

    public void Evaluate()
    {
        var p = Params;
        _imgIds = (p.ImgIds ?? _gt.Images.Select(i => i.Id).ToList()).Distinct().Order().ToArray();
        var cats = p.CatIds ?? _gt.Categories.Select(c => c.Id).Order().ToList();
        _catIds = p.UseCats ? cats.Distinct().Order().ToArray() : cats.Distinct().ToArray();
        _maxDets = p.MaxDets.Order().ToArray();
        if (_maxDets.Length == 0) throw new DetSharpException("COCOeval: maxDets is empty.");
        _iouThrs = (double[])p.IouThrs.Clone();
        _areaRanges = (CocoAreaRange[])p.AreaRanges.Clone();
        int I = _imgIds.Length, K = _catIds.Length;
        var imgIndex = new Dictionary<long, int>(I);
        for (int i = 0; i < I; i++) imgIndex[_imgIds[i]] = i;
        var catIndex = new Dictionary<long, int>(K);
        for (int k = 0; k < K; k++) catIndex[_catIds[k]] = k;

        // pycocotools' loadAnns(getAnnIds(...)) resolves ids through a dict: the last annotation with an id wins.
        var gtById = new Dictionary<long, CocoAnnotation>(_gt.Annotations.Count);
        foreach (var a in _gt.Annotations) gtById[a.Id] = a;
        var gtSel = Select(_gt.Annotations, imgIndex, catIndex, K, a => gtById[a.Id]);
        var dtSel = Select(_dt.Annotations, imgIndex, catIndex, K, a => a);
        var imgSizes = new (int H, int W)[I];
        for (int i = 0; i < I; i++)
            imgSizes[i] = _gt.ImagesById.TryGetValue(_imgIds[i], out var im) ? (im.Height, im.Width) : (0, 0);

        _unitCats = p.UseCats ? K : 1;
        int unitCount = _unitCats * I;
        _units = new EvalUnit?[unitCount];
        int maxDet = _maxDets[^1];
        Parallel.For(0, unitCount, () => new UnitScratch(), (u, _, scratch) =>
        {
            int k = u / I, i = u % I;
            int lo = p.UseCats ? i * K + k : i * K, hi = p.UseCats ? lo + 1 : (i + 1) * K;
            var gts = gtSel.Range(lo, hi);
            var dts = dtSel.Range(lo, hi);
            if (gts.Length != 0 || dts.Length != 0)
                _units[u] = EvaluateUnit(gts, dts, maxDet, imgSizes[i], scratch);
            return scratch;
        }, _ => { });
    }

    /// <summary>Annotations grouped by (image, category) in file order (a counting sort), as pycocotools' <c>_gts</c>/<c>_dts</c>.</summary>
    private sealed class Selection(CocoAnnotation[] items, int[] starts)
    {
        public ReadOnlySpan<CocoAnnotation> Range(int bucketLo, int bucketHi) =>
            items.AsSpan(starts[bucketLo], starts[bucketHi] - starts[bucketLo]);
    }

    private static Selection Select(IReadOnlyList<CocoAnnotation> anns, Dictionary<long, int> imgIndex,
        Dictionary<long, int> catIndex, int K, Func<CocoAnnotation, CocoAnnotation> resolve)
    {
        int buckets = imgIndex.Count * K;
        var keys = new int[anns.Count];
        var counts = new int[buckets + 1];
        for (int j = 0; j < anns.Count; j++)
        {
            var a = anns[j];
            keys[j] = -1;
            if (!imgIndex.TryGetValue(a.ImageId, out int i) || !catIndex.TryGetValue(a.CategoryId, out int k)) continue;
            var r = resolve(a);
            if (!imgIndex.TryGetValue(r.ImageId, out i) || !catIndex.TryGetValue(r.CategoryId, out k)) continue;
            keys[j] = i * K + k;
            counts[keys[j] + 1]++;
        }
        for (int b = 0; b < buckets; b++) counts[b + 1] += counts[b];
        var fill = (int[])counts.Clone();
        var items = new CocoAnnotation[counts[buckets]];
        for (int j = 0; j < anns.Count; j++)
            if (keys[j] >= 0) items[fill[keys[j]]++] = resolve(anns[j]);
        return new Selection(items, counts);
    }

    private EvalUnit EvaluateUnit(ReadOnlySpan<CocoAnnotation> gts, ReadOnlySpan<CocoAnnotation> dtsAll, int maxDet,
        (int H, int W) imgSize, UnitScratch scratch)
    {
        int G = gts.Length;
        // dt sorted by score, highest first, stable (numpy mergesort), then truncated to maxDets[-1]
        UnitScratch.Ensure(ref scratch.Order, dtsAll.Length);
        UnitScratch.Ensure(ref scratch.Scores, dtsAll.Length);
        var order = scratch.Order.AsSpan(0, dtsAll.Length);
        var allScores = scratch.Scores;
        for (int j = 0; j < order.Length; j++)
        {
            order[j] = j;
            allScores[j] = dtsAll[j].Score;
        }
        StableSortDescending(order, allScores);
        int D = Math.Min(order.Length, maxDet);
        UnitScratch.Ensure(ref scratch.Dts, D);
        var dts = scratch.Dts;
        var scores = new double[D];
        for (int d = 0; d < D; d++) { dts[d] = dtsAll[order[d]]; scores[d] = dts[d].Score; }

        // IoU D x G on the original gt order
        bool haveIous = D > 0 && G > 0;
        if (haveIous)
        {
            UnitScratch.Ensure(ref scratch.Ious, D * G);
            ComputeIou(dts.AsSpan(0, D), gts, imgSize, scratch);
        }
        var ious = scratch.Ious;

        int T = _iouThrs.Length, A = _areaRanges.Length;
        var codes = new byte[A * T * D];
        var npos = new int[A];
        UnitScratch.Ensure(ref scratch.GtIgnore, G);
        UnitScratch.Ensure(ref scratch.GtOrder, G);
        UnitScratch.Ensure(ref scratch.GtIg, G);
        UnitScratch.Ensure(ref scratch.GtCrowd, G);
        UnitScratch.Ensure(ref scratch.GtIds, G);
        UnitScratch.Ensure(ref scratch.GtMatched, G);
        var gtIgnore = scratch.GtIgnore;
        var gtOrder = scratch.GtOrder;
        var gtIg = scratch.GtIg;
        var gtCrowd = scratch.GtCrowd;
        var gtIds = scratch.GtIds;
        var gtMatched = scratch.GtMatched.AsSpan(0, G);
        for (int a = 0; a < A; a++)
        {
            var range = _areaRanges[a];
            int n = 0;
            for (int g = 0; g < G; g++)
            {
                gtIgnore[g] = gts[g].IsCrowd || gts[g].Area < range.Min || gts[g].Area > range.Max;
                if (!gtIgnore[g]) gtOrder[n++] = g;
            }
            npos[a] = n;
            for (int g = 0; g < G; g++) if (gtIgnore[g]) gtOrder[n++] = g;
            for (int s = 0; s < G; s++)
            {
                var gt = gts[gtOrder[s]];
                gtIg[s] = gtIgnore[gtOrder[s]];
                gtCrowd[s] = gt.IsCrowd;
                gtIds[s] = gt.Id;
            }
            var code = codes.AsSpan(a * T * D, T * D);
            if (haveIous)
            {
                for (int t = 0; t < T; t++)
                {
                    gtMatched.Clear();
                    double threshold = Math.Min(_iouThrs[t], 1 - 1e-10);
                    for (int d = 0; d < D; d++)
                    {
                        double iou = threshold;
                        int m = -1;
                        int row = d * G;
                        for (int s = 0; s < G; s++)
                        {
                            if (gtMatched[s] && !gtCrowd[s]) continue;
                            if (m > -1 && !gtIg[m] && gtIg[s]) break;
                            double v = ious[row + gtOrder[s]];
                            if (v < iou) continue;
                            iou = v;
                            m = s;
                        }
                        if (m == -1) continue;
                        byte c = gtIds[m] != 0 ? (byte)1 : (byte)0;
                        if (gtIg[m]) c |= 2;
                        code[t * D + d] = c;
                        gtMatched[m] = true;
                    }
                }
            }
            // unmatched (dtm == 0) detections outside the area range are ignored
            for (int d = 0; d < D; d++)
            {
                double area = dts[d].Area;
                if (area < range.Min || area > range.Max)
                    for (int t = 0; t < T; t++)
                        if ((code[t * D + d] & 1) == 0) code[t * D + d] |= 2;
            }
        }
        Array.Clear(dts, 0, D); // do not keep annotations alive through the scratch buffer
        return new EvalUnit { DtScores = scores, Codes = codes, NumPositives = npos };
    }

    private void ComputeIou(ReadOnlySpan<CocoAnnotation> dts, ReadOnlySpan<CocoAnnotation> gts, (int H, int W) imgSize, UnitScratch scratch)
    {
        int D = dts.Length, G = gts.Length;
        UnitScratch.Ensure(ref scratch.GtCrowd, G);
        var crowd = scratch.GtCrowd.AsSpan(0, G);
        for (int g = 0; g < G; g++) crowd[g] = gts[g].IsCrowd;
        var ious = scratch.Ious.AsSpan(0, D * G);
        if (Params.IouType == CocoIouType.Bbox)
        {
            UnitScratch.Ensure(ref scratch.DtBoxes, D);
            UnitScratch.Ensure(ref scratch.GtBoxes, G);
            var db = scratch.DtBoxes.AsSpan(0, D);
            var gb = scratch.GtBoxes.AsSpan(0, G);
            for (int d = 0; d < D; d++) db[d] = RequireBox(dts[d], "detection");
            for (int g = 0; g < G; g++) gb[g] = RequireBox(gts[g], "annotation");
            MaskIou.BoxIou(db, gb, crowd, ious);
        }
        else
        {
            var dr = new Rle[D];
            var gr = new Rle[G];
            for (int d = 0; d < D; d++) dr[d] = DetectionRle(dts[d], imgSize);
            for (int g = 0; g < G; g++) gr[g] = ToRle(gts[g], imgSize, "annotation");
            MaskIou.RleIou(dr, gr, crowd, ious);
        }
    }

    /// <summary>
    /// A result's mask. Box results carry no segmentation (<see cref="CocoResults"/> skips building 500k polygons that a
    /// bbox evaluation never reads); for segm, pycocotools' loadRes would have made the box polygon, so make it here.
    /// </summary>
    private static Rle DetectionRle(CocoAnnotation a, (int H, int W) imgSize)
    {
        if (a.DecodedMask is { } decoded && decoded.Height == imgSize.H && decoded.Width == imgSize.W) return decoded;
        if (a.Segmentation is null && a.HasBbox)
        {
            var b = a.Bbox;
            double x1 = b.X, x2 = b.X + b.W, y1 = b.Y, y2 = b.Y + b.H;
            return RlePolygon.FromPolygon([x1, y1, x1, y2, x2, y2, x2, y1], imgSize.H, imgSize.W);
        }
        return ToRle(a, imgSize, "detection");
    }

    private static BoxXywh RequireBox(CocoAnnotation a, string what) =>
        a.HasBbox ? a.Bbox : throw new DetSharpException($"COCOeval bbox: {what} id {a.Id} (image {a.ImageId}) has no 'bbox'.");

    private static Rle ToRle(CocoAnnotation a, (int H, int W) imgSize, string what) =>
        a.Segmentation?.ToRle(imgSize.H, imgSize.W)
        ?? throw new DetSharpException($"COCOeval segm: {what} id {a.Id} (image {a.ImageId}) has no 'segmentation'.");

    /// <summary>Sorts indices by score descending; equal scores keep their order (numpy's stable mergesort on -score).</summary>
    internal static void StableSortDescending(Span<int> order, double[] scores)
    {
        if (order.Length < 2) return;
        if (order.Length <= 16)
        {
            for (int i = 1; i < order.Length; i++)
            {
                int v = order[i];
                int j = i - 1;
                while (j >= 0 && Before(v, order[j], scores)) { order[j + 1] = order[j]; j--; }
                order[j + 1] = v;
            }
            return;
        }
        order.Sort((x, y) =>
        {
            int c = Key(scores[x]).CompareTo(Key(scores[y]));
            return c != 0 ? c : x.CompareTo(y);
        });
    }

    private static bool Before(int x, int y, double[] scores)
    {
        int c = Key(scores[x]).CompareTo(Key(scores[y]));
        return c < 0 || (c == 0 && x < y);
    }

    // numpy sorts -score ascending with NaN last
    private static double Key(double score) => double.IsNaN(score) ? double.PositiveInfinity : -score;

    /// <summary>A detection's sort key: numpy's stable argsort of <c>-score</c> (NaN last), ties by position.</summary>
    private readonly record struct SortKey(double NegScore, int Position);

    private readonly struct SortKeyComparer : IComparer<SortKey>
    {
        public int Compare(SortKey x, SortKey y)
        {
            int c = x.NegScore.CompareTo(y.NegScore);
            return c != 0 ? c : x.Position.CompareTo(y.Position);
        }
    }

    public void Accumulate()
    {
        if (_units.Length == 0 && _imgIds.Length == 0 && _catIds.Length == 0 && _maxDets.Length == 0)
            throw new InvalidOperationException("Call Evaluate() before Accumulate().");
        int T = _iouThrs.Length, R = Params.RecThrs.Length, K = _unitCats, A = _areaRanges.Length, M = _maxDets.Length;
        int I = _imgIds.Length;
        var recThrs = Params.RecThrs;
        var precision = new double[T * R * K * A * M];
        var recall = new double[T * K * A * M];
        var scoresOut = new double[T * R * K * A * M];
        Array.Fill(precision, -1.0);
        Array.Fill(recall, -1.0);
        Array.Fill(scoresOut, -1.0);
        Parallel.For(0, K, k =>
        {
            var units = new List<EvalUnit>();
            int total = 0;
            for (int i = 0; i < I; i++)
            {
                if (_units[k * I + i] is not { } u) continue;
                units.Add(u);
                total += u.DtScores.Length;
            }
            if (units.Count == 0) return;

            // The detections of category k in pycocotools' concatenation order (image by image), with their codes
            // laid out [A][T][position] so each pass over the sorted detections reads one contiguous row.
            var scores = new double[total];
            var local = new int[total];
            var codes = new byte[A * T * total];
            int offset = 0;
            foreach (var u in units)
            {
                int D = u.DtScores.Length;
                for (int d = 0; d < D; d++)
                {
                    scores[offset + d] = u.DtScores[d];
                    local[offset + d] = d;
                }
                for (int at = 0; at < A * T; at++)
                    Array.Copy(u.Codes, at * D, codes, at * total + offset, D);
                offset += D;
            }

            // Units hold at most maxDets[-1] detections; the order for a smaller maxDet is the subsequence of
            // this one (a stable sort keeps the relative order of any subset), so one sort serves every maxDet.
            var keys = new SortKey[total];
            for (int j = 0; j < total; j++)
                keys[j] = new SortKey(double.IsNaN(scores[j]) ? double.PositiveInfinity : -scores[j], j);
            keys.AsSpan().Sort(new SortKeyComparer());

            var order = new int[total];
            var rcTable = Array.Empty<double>();
            var rc = new double[total];
            var pr = new double[total];
            for (int m = 0; m < M; m++)
            {
                int maxDet = _maxDets[m];
                int n = 0;
                foreach (var key in keys)
                    if (local[key.Position] < maxDet) order[n++] = key.Position;

                for (int a = 0; a < A; a++)
                {
                    int npig = 0;
                    foreach (var u in units) npig += u.NumPositives[a];
                    if (npig == 0) continue;
                    // recall = tp / npig takes at most n + 1 values: divide once per value, not once per detection
                    if (rcTable.Length < n + 1) rcTable = new double[n + 1];
                    for (int v = 0; v <= n; v++) rcTable[v] = (double)v / npig;
                    for (int t = 0; t < T; t++)
                    {
                        var row = codes.AsSpan((a * T + t) * total, total);
                        long tp = 0, fp = 0;
                        double precisionNow = 0, recallNow = 0;
                        for (int j = 0; j < n; j++)
                        {
                            byte c = row[order[j]];
                            // an ignored detection leaves tp and fp, hence recall and precision, as they were
                            if ((c & 2) == 0)
                            {
                                if ((c & 1) != 0) tp++; else fp++;
                                double tpd = tp;
                                recallNow = rcTable[tp];
                                precisionNow = tpd / (fp + tpd + Spacing1);
                            }
                            rc[j] = recallNow;
                            pr[j] = precisionNow;
                        }
                        int ri = ((t * K + k) * A + a) * M + m;
                        recall[ri] = n > 0 ? rc[n - 1] : 0;
                        for (int j = n - 1; j > 0; j--) if (pr[j] > pr[j - 1]) pr[j - 1] = pr[j];
                        // searchsorted(rc, recThrs, side='left'); past the end the rest stay 0
                        int pi = 0;
                        for (int r = 0; r < R; r++)
                        {
                            double thr = recThrs[r];
                            while (pi < n && rc[pi] < thr) pi++;
                            int idx = (((t * R + r) * K + k) * A + a) * M + m;
                            if (pi >= n)
                            {
                                for (int r2 = r; r2 < R; r2++)
                                {
                                    int idx2 = (((t * R + r2) * K + k) * A + a) * M + m;
                                    precision[idx2] = 0;
                                    scoresOut[idx2] = 0;
                                }
                                break;
                            }
                            precision[idx] = pr[pi];
                            scoresOut[idx] = scores[order[pi]];
                        }
                    }
                }
            }
        });
        Precision = precision;
        Recall = recall;
        Scores = scoresOut;
    }

    /// <summary><c>np.spacing(1)</c>.</summary>
    private const double Spacing1 = 2.220446049250313e-16;

    /// <summary>The 12 stats of <c>summarizeDets</c> (-1 where nothing is defined) and the printed lines in <see cref="SummaryText"/>.</summary>
    public double[] Summarize()
    {
        if (Precision.Length == 0 && Recall.Length == 0 && _unitCats * _iouThrs.Length > 0)
            throw new InvalidOperationException("Call Accumulate() before Summarize().");
        var md = _maxDets;
        var sb = new StringBuilder();
        var stats = new double[12];
        stats[0] = SummarizeOne(sb, true, null, "all", 100);
        stats[1] = SummarizeOne(sb, true, .5, "all", md[^1]);
        stats[2] = SummarizeOne(sb, true, .75, "all", md[^1]);
        stats[3] = SummarizeOne(sb, true, null, "small", md[^1]);
        stats[4] = SummarizeOne(sb, true, null, "medium", md[^1]);
        stats[5] = SummarizeOne(sb, true, null, "large", md[^1]);
        stats[6] = SummarizeOne(sb, false, null, "all", md[0]);
        stats[7] = SummarizeOne(sb, false, null, "all", md.Length > 1 ? md[1] : md[^1]);
        stats[8] = SummarizeOne(sb, false, null, "all", md[^1]);
        stats[9] = SummarizeOne(sb, false, null, "small", md[^1]);
        stats[10] = SummarizeOne(sb, false, null, "medium", md[^1]);
        stats[11] = SummarizeOne(sb, false, null, "large", md[^1]);
        Stats = stats;
        SummaryText = sb.ToString();
        return stats;
    }

    private double SummarizeOne(StringBuilder sb, bool ap, double? iouThr, string areaLabel, int maxDets)
    {
        int T = _iouThrs.Length, R = Params.RecThrs.Length, K = _unitCats, A = _areaRanges.Length, M = _maxDets.Length;
        int aind = Array.FindIndex(_areaRanges, r => r.Label == areaLabel);
        int mind = Array.IndexOf(_maxDets, maxDets);
        var values = new List<double>();
        if (aind >= 0 && mind >= 0)
        {
            for (int t = 0; t < T; t++)
            {
                if (iouThr is { } thr && _iouThrs[t] != thr) continue;
                if (ap)
                {
                    for (int r = 0; r < R; r++)
                        for (int k = 0; k < K; k++)
                        {
                            double v = Precision[(((t * R + r) * K + k) * A + aind) * M + mind];
                            if (v > -1) values.Add(v);
                        }
                }
                else
                {
                    for (int k = 0; k < K; k++)
                    {
                        double v = Recall[((t * K + k) * A + aind) * M + mind];
                        if (v > -1) values.Add(v);
                    }
                }
            }
        }
        double mean = values.Count == 0 ? -1 : NumpyMath.Mean(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(values));
        string title = ap ? "Average Precision" : "Average Recall";
        string type = ap ? "(AP)" : "(AR)";
        string iouStr = iouThr is { } it
            ? NumpyMath.FormatFixed(it, 2)
            : $"{NumpyMath.FormatFixed(_iouThrs[0], 2)}:{NumpyMath.FormatFixed(_iouThrs[^1], 2)}";
        sb.Append(' ').Append(title.PadRight(18)).Append(' ').Append(type)
          .Append(" @[ IoU=").Append(iouStr.PadRight(9))
          .Append(" | area=").Append(areaLabel.PadLeft(6))
          .Append(" | maxDets=").Append(maxDets.ToString(CultureInfo.InvariantCulture).PadLeft(3))
          .Append(" ] = ").Append(NumpyMath.FormatFixed(mean, 3)).Append('\n');
        return mean;
    }

    /// <summary>Per-category AP as MMDetection's classwise table: mean of precision[:, :, k, area all, last maxDet] over values > -1; NaN if none.</summary>
    public IReadOnlyList<(long CategoryId, double Ap)> PerCategoryAp()
    {
        int T = _iouThrs.Length, R = Params.RecThrs.Length, K = _unitCats, A = _areaRanges.Length, M = _maxDets.Length;
        var result = new List<(long, double)>(K);
        var values = new List<double>();
        for (int k = 0; k < K; k++)
        {
            values.Clear();
            for (int t = 0; t < T; t++)
                for (int r = 0; r < R; r++)
                {
                    double v = Precision[(((t * R + r) * K + k) * A + 0) * M + (M - 1)];
                    if (v > -1) values.Add(v);
                }
            double ap = values.Count == 0 ? double.NaN : NumpyMath.Mean(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(values));
            result.Add((EvaluatedCatIds[k], ap));
        }
        return result;
    }
}
