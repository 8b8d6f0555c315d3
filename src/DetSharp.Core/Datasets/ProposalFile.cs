using System.Text.Json;

namespace DetSharp.Datasets;

/// <summary>
/// MMDetection's <c>proposal_file</c>: per image, in the order of the annotation file's images, an (N, 4) or (N, 5) float
/// array of boxes (x1, y1, x2, y2[, score]). MMDetection writes it as a pickle of numpy arrays; DetSharp reads it as JSON
/// (a list of per-image lists of 4 or 5 numbers), because its datasets do not depend on a pickle reader with numpy.
/// </summary>
public static class ProposalFile
{
    public static List<float[,]> Load(string path)
    {
        if (path.EndsWith(".pkl", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".pickle", StringComparison.OrdinalIgnoreCase))
            throw new DetSharpException($"{path}: proposal_file is a pickle; DetSharp reads proposal files as JSON. Convert it once with Python: " +
                "json.dump([p.tolist() for p in mmcv.load(path)], open(path[:-4] + '.json', 'w')) and point proposal_file at the .json file.");
        if (!File.Exists(path)) throw new DetSharpException($"{path}: proposal_file does not exist.");
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        if (doc.RootElement.ValueKind != JsonValueKind.Array)
            throw new DetSharpException($"{path}: proposal_file must be a JSON list (one entry per image) of lists of [x1, y1, x2, y2(, score)].");
        var result = new List<float[,]>();
        foreach (var image in doc.RootElement.EnumerateArray())
        {
            int index = result.Count;
            if (image.ValueKind != JsonValueKind.Array)
                throw new DetSharpException($"{path}: proposals of image {index} are not a list of boxes.");
            var rows = image.EnumerateArray().ToList();
            int cols = rows.Count == 0 ? 4 : rows[0].GetArrayLength();
            var boxes = new float[rows.Count, cols];
            for (int r = 0; r < rows.Count; r++)
            {
                if (rows[r].ValueKind != JsonValueKind.Array || rows[r].GetArrayLength() != cols)
                    throw new DetSharpException($"{path}: proposal {r} of image {index} does not have {cols} numbers like the first one.");
                int c = 0;
                foreach (var v in rows[r].EnumerateArray()) boxes[r, c++] = v.GetSingle();
            }
            result.Add(boxes);
        }
        return result;
    }
}
