namespace DetSharp.Datasets;

/// <summary>MMDetection's <c>RepeatDataset</c>: <c>times</c> passes over the inner dataset per epoch (index mod length).</summary>
public sealed class RepeatDataset : IDetDataset
{
    private readonly byte[] _flags;

    public RepeatDataset(IDetDataset dataset, int times)
    {
        if (times < 1) throw new DetSharpException($"RepeatDataset: times must be at least 1, got {times}.");
        Dataset = dataset;
        Times = times;
        _flags = new byte[dataset.Count * times];
        for (int i = 0; i < _flags.Length; i++) _flags[i] = dataset.Flags.Count == 0 ? (byte)0 : dataset.Flags[i % dataset.Count];
    }

    public IDetDataset Dataset { get; }
    public int Times { get; }
    public int Count => Dataset.Count * Times;
    public IReadOnlyList<string> Classes => Dataset.Classes;
    public IReadOnlyList<byte> Flags => _flags;
    public bool TestMode => Dataset.TestMode;
    public IReadOnlyList<string> Warnings => Dataset.Warnings;
    public DetSample GetItem(int index, Random rng) => Dataset.GetItem(index % Dataset.Count, rng);
    public DetSample? Prepare(int index, Random rng) => Dataset.Prepare(index % Dataset.Count, rng);
    public IReadOnlyList<long> GetCatIds(int index) => Dataset.GetCatIds(index % Dataset.Count);
    public AnnInfo GetAnnInfo(int index) => Dataset.GetAnnInfo(index % Dataset.Count);
}

/// <summary>MMDetection's <c>ConcatDataset</c>: the parts one after another; CLASSES from the first part.</summary>
public sealed class ConcatDataset : IDetDataset
{
    private readonly int[] _cumulative;
    private readonly byte[] _flags;

    public ConcatDataset(IReadOnlyList<IDetDataset> datasets, bool separateEval = true)
    {
        if (datasets.Count == 0) throw new DetSharpException("ConcatDataset: 'datasets' is empty.");
        Datasets = datasets;
        SeparateEval = separateEval;
        _cumulative = new int[datasets.Count];
        int total = 0;
        for (int i = 0; i < datasets.Count; i++) _cumulative[i] = total += datasets[i].Count;
        _flags = new byte[total];
        int k = 0;
        foreach (var d in datasets)
            for (int i = 0; i < d.Count; i++) _flags[k++] = d.Flags.Count == 0 ? (byte)0 : d.Flags[i];
    }

    public IReadOnlyList<IDetDataset> Datasets { get; }
    public bool SeparateEval { get; }
    public int Count => _cumulative[^1];
    public IReadOnlyList<string> Classes => Datasets[0].Classes;
    public IReadOnlyList<byte> Flags => _flags;
    public bool TestMode => Datasets[0].TestMode;
    public IReadOnlyList<string> Warnings => Datasets.SelectMany(d => d.Warnings).ToList();

    /// <summary>(part, index inside the part) of a global index.</summary>
    public (int Dataset, int Index) Locate(int index)
    {
        if ((uint)index >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(index));
        int d = Array.BinarySearch(_cumulative, index + 1);
        if (d < 0) d = ~d;
        return (d, d == 0 ? index : index - _cumulative[d - 1]);
    }

    public DetSample GetItem(int index, Random rng)
    {
        var (d, i) = Locate(index);
        return Datasets[d].GetItem(i, rng);
    }

    public DetSample? Prepare(int index, Random rng)
    {
        var (d, i) = Locate(index);
        return Datasets[d].Prepare(i, rng);
    }

    public IReadOnlyList<long> GetCatIds(int index)
    {
        var (d, i) = Locate(index);
        return Datasets[d].GetCatIds(i);
    }

    public AnnInfo GetAnnInfo(int index)
    {
        var (d, i) = Locate(index);
        return Datasets[d].GetAnnInfo(i);
    }
}

/// <summary>
/// MMDetection's <c>ClassBalancedDataset</c> (LVIS repeat-factor sampling): f_c = fraction of images containing
/// category c, r_c = max(1, √(t / f_c)), each image repeated ceil(max r_c over its categories) times.
/// </summary>
public sealed class ClassBalancedDataset : IDetDataset
{
    private readonly int[] _indices;
    private readonly byte[] _flags;

    public ClassBalancedDataset(IDetDataset dataset, double oversampleThr, bool filterEmptyGt = true)
    {
        Dataset = dataset;
        OversampleThr = oversampleThr;
        int n = dataset.Count;
        var freq = new Dictionary<long, double>();
        var catsPerImage = new HashSet<long>[n];
        long emptyKey = dataset.Classes.Count;
        for (int i = 0; i < n; i++)
        {
            var cats = new HashSet<long>(dataset.GetCatIds(i));
            if (cats.Count == 0 && !filterEmptyGt) cats.Add(emptyKey);
            catsPerImage[i] = cats;
            foreach (var c in cats) freq[c] = freq.GetValueOrDefault(c) + 1;
        }
        var repeat = new Dictionary<long, double>();
        foreach (var (c, count) in freq) repeat[c] = Math.Max(1.0, Math.Sqrt(oversampleThr / (count / n)));
        var indices = new List<int>();
        var flags = new List<byte>();
        RepeatFactors = new double[n];
        for (int i = 0; i < n; i++)
        {
            double factor = 1;
            if (catsPerImage[i].Count > 0)
            {
                factor = 0;
                foreach (var c in catsPerImage[i]) factor = Math.Max(factor, repeat[c]);
            }
            RepeatFactors[i] = factor;
            int times = (int)Math.Ceiling(factor);
            for (int t = 0; t < times; t++)
            {
                indices.Add(i);
                flags.Add(dataset.Flags.Count == 0 ? (byte)0 : dataset.Flags[i]);
            }
        }
        _indices = indices.ToArray();
        _flags = flags.ToArray();
    }

    public IDetDataset Dataset { get; }
    public double OversampleThr { get; }
    public double[] RepeatFactors { get; }
    public int Count => _indices.Length;
    public IReadOnlyList<string> Classes => Dataset.Classes;
    public IReadOnlyList<byte> Flags => _flags;
    public bool TestMode => Dataset.TestMode;
    public IReadOnlyList<string> Warnings => Dataset.Warnings;
    public DetSample GetItem(int index, Random rng) => Dataset.GetItem(_indices[index], rng);
    public DetSample? Prepare(int index, Random rng) => Dataset.Prepare(_indices[index], rng);
    public IReadOnlyList<long> GetCatIds(int index) => Dataset.GetCatIds(_indices[index]);
    public AnnInfo GetAnnInfo(int index) => Dataset.GetAnnInfo(_indices[index]);
}
