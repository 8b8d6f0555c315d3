using DetSharp.Registry;

namespace DetSharp.Models.TaskModules;

/// <summary>
/// MMDetection's <c>LegacyAnchorGenerator</c>, the anchors of MMDetection 1.x models (<c>legacy_1.x/</c> configs): an
/// <see cref="AnchorGenerator"/> whose boxes follow the 1.x pixel convention — the base anchor's centre at
/// <c>center_offset · (base_size − 1)</c> (1.x models set 0.5: the centre of the first stride×stride cell of pixels),
/// its corners ±(size − 1)/2 around it, rounded to integers.
/// </summary>
[Register(Registries.TaskModulesName, "LegacyAnchorGenerator")]
public sealed class LegacyAnchorGenerator(
    object[] strides,
    double[] ratios,
    double[]? scales = null,
    double[]? baseSizes = null,
    bool scaleMajor = true,
    double? octaveBaseScale = null,
    int? scalesPerOctave = null,
    double[][]? centers = null,
    double centerOffset = 0)
    : AnchorGenerator(legacy: true, strides, ratios, scales, baseSizes, scaleMajor, octaveBaseScale, scalesPerOctave, centers, centerOffset);
