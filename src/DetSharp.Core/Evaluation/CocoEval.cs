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
        public required byte[][] Codes;             // [A][T*D]: bit0 = matched to a gt with id != 0, bit1 = ignored
        public required int[] NumPositives;         // [A]: gts not ignored
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
        Parallel.For(0, unitCount, u =>
        {
            int k = u / I, i = u % I;
            int lo = p.UseCats ? i * K + k : i * K, hi = p.UseCats ? lo + 1 : (i + 1) * K;
            var gts = gtSel.Range(lo, hi);
            var dts = dtSel.Range(lo, hi);
            if (gts.Length == 0 && dts.Length == 0) return;
            _units[u] = EvaluateUnit(gts, dts, maxDet, imgSizes[i]);
        });
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

    private EvalUnit EvaluateUnit(ReadOnlySpan<CocoAnnotation> gts, ReadOnlySpan<CocoAnnotation> dtsAll, int maxDet, (int H, int W) imgSize)
    {
        var p = Params;
        int G = gts.Length;
        // dt sorted by score, highest first, stable (numpy mergesort), then truncated to maxDets[-1]
        var order = new int[dtsAll.Length];
        for (int j = 0; j < order.Length; j++) order[j] = j;
        var allScores = new double[dtsAll.Length];
        for (int j = 0; j < allScores.Length; j++) allScores[j] = dtsAll[j].Score;
        StableSortDescending(order, allScores);
        int D = Math.Min(order.Length, maxDet);
        var dts = new CocoAnnotation[D];
        var scores = new double[D];
        for (int d = 0; d < D; d++) { dts[d] = dtsAll[order[d]]; scores[d] = dts[d].Score; }

        // IoU D x G on the original gt order
        double[] ious = D > 0 && G > 0 ? ComputeIou(dts, gts, imgSize) : [];

        int T = _iouThrs.Length, A = _areaRanges.Length;
        var codes = new byte[A][];
        var npos = new int[A];
        var gtIgnore = new bool[G];
        var gtOrder = new int[G];
        var gtIg = new bool[G];
        var gtCrowd = new bool[G];
        var gtIds = new long[G];
        var gtMatched = new bool[G];
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
            var code = new byte[T * D];
            if (ious.Length > 0)
            {
                for (int t = 0; t < T; t++)
                {
                    Array.Clear(gtMatched);
                    for (int d = 0; d < D; d++)
                    {
                        double iou = Math.Min(_iouThrs[t], 1 - 1e-10);
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
            codes[a] = code;
        }
        return new EvalUnit { DtScores = scores, Codes = codes, NumPositives = npos };
    }

    private double[] ComputeIou(CocoAnnotation[] dts, ReadOnlySpan<CocoAnnotation> gts, (int H, int W) imgSize)
    {
        int D = dts.Length, G = gts.Length;
        var ious = new double[D * G];
        var crowd = new bool[G];
        for (int g = 0; g < G; g++) crowd[g] = gts[g].IsCrowd;
        if (Params.IouType == CocoIouType.Bbox)
        {
            var db = new BoxXywh[D];
            var gb = new BoxXywh[G];
            for (int d = 0; d < D; d++) db[d] = RequireBox(dts[d], "detection");
            for (int g = 0; g < G; g++) gb[g] = RequireBox(gts[g], "annotation");
            MaskIou.BoxIou(db, gb, crowd, ious);
        }
        else
        {
            var dr = new Rle[D];
            var gr = new Rle[G];
            for (int d = 0; d < D; d++) dr[d] = ToRle(dts[d], imgSize, "detection");
            for (int g = 0; g < G; g++) gr[g] = ToRle(gts[g], imgSize, "annotation");
            MaskIou.RleIou(dr, gr, crowd, ious);
        }
        return ious;
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
            for (int i = 0; i < I; i++) if (_units[k * I + i] is { } u) units.Add(u);
            if (units.Count == 0) return;
            for (int m = 0; m < M; m++)
            {
                int maxDet = _maxDets[m];
                int total = 0;
                foreach (var u in units) total += Math.Min(u.DtScores.Length, maxDet);
                var scores = new double[total];
                var unitOf = new int[total];
                var localOf = new int[total];
                int pos = 0;
                for (int e = 0; e < units.Count; e++)
                {
                    int n = Math.Min(units[e].DtScores.Length, maxDet);
                    for (int d = 0; d < n; d++) { scores[pos] = units[e].DtScores[d]; unitOf[pos] = e; localOf[pos] = d; pos++; }
                }
                var order = new int[total];
                for (int j = 0; j < total; j++) order[j] = j;
                StableSortDescending(order, scores);
                var rc = new double[total];
                var pr = new double[total];
                for (int a = 0; a < A; a++)
                {
                    int npig = 0;
                    foreach (var u in units) npig += u.NumPositives[a];
                    if (npig == 0) continue;
                    for (int t = 0; t < T; t++)
                    {
                        long tp = 0, fp = 0;
                        for (int j = 0; j < total; j++)
                        {
                            int src = order[j];
                            var u = units[unitOf[src]];
                            byte c = u.Codes[a][t * u.DtScores.Length + localOf[src]];
                            if ((c & 2) == 0) { if ((c & 1) != 0) tp++; else fp++; }
                            double tpd = tp, fpd = fp;
                            rc[j] = tpd / npig;
                            pr[j] = tpd / (fpd + tpd + Spacing1);
                        }
                        int ri = ((t * K + k) * A + a) * M + m;
                        recall[ri] = total > 0 ? rc[total - 1] : 0;
                        for (int j = total - 1; j > 0; j--) if (pr[j] > pr[j - 1]) pr[j - 1] = pr[j];
                        // searchsorted(rc, recThrs, side='left'); past the end the rest stay 0
                        int pi = 0;
                        for (int r = 0; r < R; r++)
                        {
                            double thr = recThrs[r];
                            while (pi < total && rc[pi] < thr) pi++;
                            int idx = (((t * R + r) * K + k) * A + a) * M + m;
                            if (pi >= total)
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
