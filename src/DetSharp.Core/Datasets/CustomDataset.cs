using DetSharp.Config;
using DetSharp.Datasets.Transforms;
using DetSharp.Evaluation;

namespace DetSharp.Datasets;

/// <summary>
/// MMDetection's <c>CustomDataset</c>: <c>data_root</c> joined to relative paths, <c>classes</c> (None → default,
/// str → a file with one name per line, tuple/list → override), training filter (min side 32 and empty images) and
/// aspect flags, the pipeline, and the retry of dropped training samples.
/// </summary>
public abstract class CustomDataset : IDetDataset
{
    private readonly List<string> _warnings = [];
    private byte[] _flags = [];

    protected CustomDataset(string annFile, IReadOnlyList<ConfigDict>? pipeline, object? classes, string? dataRoot, string? imgPrefix,
        string? segPrefix, string? proposalFile, bool testMode, bool filterEmptyGt)
    {
        DataRoot = dataRoot;
        AnnFile = annFile;
        ImgPrefix = imgPrefix;
        SegPrefix = segPrefix;
        TestMode = testMode;
        FilterEmptyGt = filterEmptyGt;
        ProposalFilePath = proposalFile;
        Classes = GetClasses(classes);
        if (dataRoot is not null)
        {
            if (!PyPath.IsAbs(AnnFile)) AnnFile = PyPath.Join(dataRoot, AnnFile);
            if (ProposalFilePath is not null && !PyPath.IsAbs(ProposalFilePath)) ProposalFilePath = PyPath.Join(dataRoot, ProposalFilePath);
            if (ImgPrefix is not null && !PyPath.IsAbs(ImgPrefix)) ImgPrefix = PyPath.Join(dataRoot, ImgPrefix);
            if (SegPrefix is not null && !PyPath.IsAbs(SegPrefix)) SegPrefix = PyPath.Join(dataRoot, SegPrefix);
        }
        Pipeline = Compose.FromConfig(pipeline);
    }

    public string AnnFile { get; }
    public string? DataRoot { get; }
    public string? ImgPrefix { get; }
    public string? SegPrefix { get; }
    public string? ProposalFilePath { get; }
    public bool TestMode { get; }
    public bool FilterEmptyGt { get; }
    public IReadOnlyList<string> Classes { get; }
    public Compose Pipeline { get; }

    /// <summary>The image records kept (after the training filter).</summary>
    public IReadOnlyList<CocoImage> DataInfos { get; private set; } = [];

    /// <summary>The proposals of <c>proposal_file</c> per kept image (N, 4|5), or null without one.</summary>
    public IReadOnlyList<float[,]>? Proposals { get; private set; }

    public int Count => DataInfos.Count;
    public IReadOnlyList<byte> Flags => _flags;
    public IReadOnlyList<string> Warnings => _warnings;

    protected void AddWarning(string message) => _warnings.Add(message);

    /// <summary>The default <c>CLASSES</c> of the dataset type.</summary>
    protected abstract IReadOnlyList<string> DefaultClasses { get; }

    /// <summary>Call at the end of the derived constructor: loads the annotations, filters (training) and sets flags.</summary>
    protected void Initialize()
    {
        var infos = LoadAnnotations(AnnFile);
        var proposals = ProposalFilePath is null ? null : ProposalFile.Load(ProposalFilePath);
        if (proposals is not null && proposals.Count != infos.Count)
            throw new DetSharpException($"{ProposalFilePath}: proposal_file has {proposals.Count} images, {AnnFile} has {infos.Count}; it must list the proposals of every image in the annotation file's order.");
        if (!TestMode)
        {
            var valid = FilterImages(infos, 32);
            var kept = new List<CocoImage>(valid.Count);
            foreach (int i in valid) kept.Add(infos[i]);
            infos = kept;
            // CustomDataset filters the proposals with the same valid_inds as data_infos
            if (proposals is not null) proposals = valid.Select(i => proposals[i]).ToList();
            OnFiltered(valid);
        }
        Proposals = proposals;
        DataInfos = infos;
        _flags = new byte[infos.Count];
        if (!TestMode)
            for (int i = 0; i < infos.Count; i++) _flags[i] = infos[i].Width / (double)infos[i].Height > 1 ? (byte)1 : (byte)0;
    }

    protected abstract List<CocoImage> LoadAnnotations(string annFile);

    /// <summary>Indices (into the loaded records) that training keeps.</summary>
    protected abstract List<int> FilterImages(IReadOnlyList<CocoImage> infos, int minSize);

    /// <summary>Told which loaded records were kept, in order, so per-image tables can follow.</summary>
    protected virtual void OnFiltered(IReadOnlyList<int> keptIndices) { }

    public abstract AnnInfo GetAnnInfo(int index);

    public abstract IReadOnlyList<long> GetCatIds(int index);

    /// <summary><c>pre_pipeline</c> plus <c>img_info</c> / <c>ann_info</c> and, with a proposal file, <c>proposals</c>.</summary>
    public DetSample CreateSample(int index, bool withAnnotations)
    {
        var sample = new DetSample
        {
            ImgInfo = DataInfos[index],
            AnnInfo = withAnnotations ? GetAnnInfo(index) : null,
            ImgPrefix = ImgPrefix,
            SegPrefix = SegPrefix,
        };
        if (Proposals is not null) sample.Meta[LoadProposals.Key] = Proposals[index];
        return sample;
    }

    public DetSample? Prepare(int index, Random rng)
    {
        var sample = CreateSample(index, withAnnotations: !TestMode);
        var result = Pipeline.Apply(sample, rng);
        if (result is null) sample.Dispose();
        return result;
    }

    public DetSample GetItem(int index, Random rng)
    {
        if (TestMode) return Prepare(index, rng) ?? throw new DetSharpException($"{AnnFile}: the test pipeline dropped image {DataInfos[index].FileName}.");
        for (int attempt = 0; ; attempt++)
        {
            var sample = Prepare(index, rng);
            if (sample is not null) return sample;
            if (attempt > 1000)
                throw new DetSharpException($"{AnnFile}: the training pipeline dropped 1000 images in a row; check the transforms (e.g. RandomCrop sizes).");
            index = RandomOfSameGroup(index, rng);
        }
    }

    /// <summary><c>_rand_another</c>: a uniform pick among the indices with the same aspect flag.</summary>
    protected int RandomOfSameGroup(int index, Random rng)
    {
        byte flag = _flags[index];
        int n = 0;
        foreach (byte f in _flags) if (f == flag) n++;
        int pick = rng.Next(n);
        for (int i = 0; i < _flags.Length; i++)
            if (_flags[i] == flag && pick-- == 0) return i;
        return index;
    }

    private IReadOnlyList<string> GetClasses(object? classes)
    {
        switch (classes)
        {
            case null:
                return DefaultClasses;
            case string name:
            {
                string path = name;
                if (File.Exists(path))
                {
                    var lines = File.ReadAllLines(path);
                    var list = new List<string>(lines.Length);
                    foreach (var line in lines) list.Add(line.TrimEnd('\r', '\n'));
                    return list;
                }
                throw new DetSharpException(
                    $"{AnnFile}: classes='{name}' is a string, so it is read as the name of a file with one class per line, and no such file exists. " +
                    $"For one class write a tuple with a trailing comma: classes=('{name}',).");
            }
            case List<object?> items:
            {
                var list = new List<string>(items.Count);
                foreach (var item in items)
                {
                    if (item is not string s)
                        throw new DetSharpException($"{AnnFile}: classes must hold class names (strings); got {ConfigValue.Describe(item)}.");
                    list.Add(s);
                }
                return list;
            }
            case IEnumerable<string> names:
                return names.ToList();
            default:
                throw new DetSharpException($"{AnnFile}: classes must be None, a tuple or list of names, or a file name; got {ConfigValue.Describe(classes)}.");
        }
    }
}
