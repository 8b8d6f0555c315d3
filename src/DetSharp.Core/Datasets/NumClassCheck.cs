namespace DetSharp.Datasets;

/// <summary>A module with a <c>num_classes</c> attribute, as NumClassCheckHook sees it.</summary>
public sealed record HeadClassCount(string ModuleName, string TypeName, int NumClasses);

/// <summary>
/// MMDetection's <c>NumClassCheckHook</c> check (pain points 1, 3, 4): the dataset's CLASSES must be a tuple of names
/// (a bare string is the missing-comma mistake), and every head's <c>num_classes</c> (RPN heads excluded by the caller)
/// must equal the number of classes (background is not counted in 2.x).
/// </summary>
public static class NumClassCheck
{
    /// <summary>Returns a warning when the classes are unknown; throws a <see cref="DetSharpException"/> on a mismatch.</summary>
    /// <param name="classes">The dataset's CLASSES: a list of names, a single string (an error), or null.</param>
    public static string? Check(object? classes, IEnumerable<HeadClassCount> heads, string datasetName, string modelName)
    {
        switch (classes)
        {
            case null:
                return $"Please set `CLASSES` in the {datasetName} and check if it is consistent with the `num_classes` of head";
            case string single:
                throw new DetSharpException(
                    $"`CLASSES` in {datasetName} should be a tuple of str. Add comma if number of classes is 1 as CLASSES = ('{single}',) — "
                    + $"without the comma ('{single}') is a string, which MMDetection reads as a file name or as {single.Length} one-letter classes.");
            case IReadOnlyList<string> names:
                foreach (var head in heads)
                {
                    if (head.NumClasses == names.Count) continue;
                    string hint = head.NumClasses == names.Count + 1
                        ? " MMDetection 2.x does not count the background: num_classes is the number of object classes."
                        : $" Set it with e.g. --cfg-options {CfgPath(head.ModuleName)}.num_classes={names.Count} (every head: bbox_head, mask_head, and each of the cascade's bbox heads).";
                    throw new DetSharpException(
                        $"The `num_classes` ({head.NumClasses}) in {head.TypeName} of {modelName} does not matches the length of `CLASSES` {names.Count}) in {datasetName} "
                        + $"(module '{head.ModuleName}').{hint}");
                }
                return null;
            default:
                throw new DetSharpException($"`CLASSES` in {datasetName} should be a tuple of str, got {classes.GetType().Name}.");
        }
    }

    private static string CfgPath(string moduleName) => "model." + moduleName;
}
