using System.Globalization;
using DetSharp.Apis;

namespace DetSharp.Bench;

/// <summary>
/// <c>DetSharp.Bench onnx-inputs MODEL.onnx OUT_DIR IMAGE...</c>: each image's graph inputs as <see cref="Detector.FromOnnx"/>
/// feeds them (<see cref="Detector.OnnxGraphInputs"/>), written as raw little-endian float32 files, and
/// <c>OUT_DIR/manifest.txt</c> blocks (<c>case</c>, <c>input NAME FILE DIMS</c>, <c>end</c>) for <c>bench/onnx_ep_compare</c>,
/// which runs the model in ONNX Runtime's CPU and CUDA providers on them. The manifest is appended to, so several
/// models can share one.
/// </summary>
internal static class OnnxInputs
{
    public static void Write(string model, string outDir, IReadOnlyList<string> images)
    {
        Directory.CreateDirectory(outDir);
        string modelName = Path.GetFileNameWithoutExtension(model);
        using var detector = Detector.FromOnnx(model);
        var manifest = new List<string>();
        foreach (string image in images)
        {
            string caseName = $"{modelName}.{Path.GetFileNameWithoutExtension(image)}";
            manifest.Add($"case {caseName} {Path.GetFullPath(model)}");
            foreach (var (name, data, shape) in detector.OnnxGraphInputs(image))
            {
                string file = $"{caseName}.{name}.bin";
                var bytes = new byte[data.Length * sizeof(float)];
                Buffer.BlockCopy(data, 0, bytes, 0, bytes.Length);
                File.WriteAllBytes(Path.Combine(outDir, file), bytes);
                manifest.Add($"input {name} {file} {string.Join(' ', shape.Select(d => d.ToString(CultureInfo.InvariantCulture)))}");
            }
            manifest.Add("end");
            Console.WriteLine($"{caseName}: {manifest[^2]}");
        }
        File.AppendAllLines(Path.Combine(outDir, "manifest.txt"), manifest);
    }
}
