using System.Text.Json;
using DetSharp.Config;
using DetSharp.Evaluation;
using DetSharp.Registry;

namespace DetSharp.Datasets;

/// <summary>
/// MMDetection's <c>CityscapesDataset</c>: 8 classes; boxes are not checked against the image; training also drops
/// images whose annotations are all crowd; the seg map is the image's <c>segm_file</c>.
/// </summary>
[Register(Registries.DatasetsName, "CityscapesDataset")]
public sealed class CityscapesDataset : CocoDataset
{
    public static readonly IReadOnlyList<string> CityscapesClasses = ["person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle"];

    public CityscapesDataset(string annFile, IReadOnlyList<ConfigDict>? pipeline = null, object? classes = null, string? dataRoot = null,
        string? imgPrefix = "", string? segPrefix = null, string segSuffix = ".png", string? proposalFile = null,
        bool testMode = false, bool filterEmptyGt = true, ConfigDict? fileClientArgs = null)
        : base(annFile, pipeline, classes, dataRoot, imgPrefix, segPrefix,
            segSuffix, proposalFile, testMode, filterEmptyGt, fileClientArgs)
    {
    }

    protected override IReadOnlyList<string> DefaultClasses => CityscapesClasses;

    protected override bool RequireOverlap => false;

    protected override bool ExtraFilter(int loadedIndex)
    {
        if (!FilterEmptyGt) return false;
        var anns = LoadedAnnotations(loadedIndex);
        foreach (var a in anns)
            if (!a.IsCrowd) return false;
        return true;
    }

    protected override string? SegMapOf(CocoImage info) =>
        info.Extra.TryGetValue("segm_file", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null;
}

