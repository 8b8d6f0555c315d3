using System.Text.Json;
using DetSharp.TestSupport;
using static TorchSharp.torch;

namespace DetSharp.Tests.TestSupport;

/// <summary>
/// A JSON fixture of <c>tests/fixtures/mmdet-2.28/&lt;family&gt;/</c>, written by <c>tools/oracle/&lt;family&gt;.py</c> from
/// MMDetection 2.28.2's own code: tensors as <c>{"shape": [...], "data": [...]}</c> (row-major), or lists of them.
/// </summary>
internal sealed class OracleFixture : IDisposable
{
    private readonly JsonDocument _doc;

    public OracleFixture(string family, string file)
    {
        Folder = Path.Combine(RepoPaths.Root, "tests", "fixtures", "mmdet-2.28", family);
        _doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, file)));
    }

    /// <summary>The fixture's folder (its README and configs sit beside it).</summary>
    public string Folder { get; }

    public Tensor Float(string name) => ToTensor(_doc.RootElement.GetProperty(name), ScalarType.Float32);

    public Tensor Long(string name) => ToTensor(_doc.RootElement.GetProperty(name), ScalarType.Int64);

    public Tensor[] Floats(string name) => [.. _doc.RootElement.GetProperty(name).EnumerateArray().Select(e => ToTensor(e, ScalarType.Float32))];

    public Tensor[] Longs(string name) => [.. _doc.RootElement.GetProperty(name).EnumerateArray().Select(e => ToTensor(e, ScalarType.Int64))];

    /// <summary>The single value of a one-element tensor entry.</summary>
    public double Scalar(string name) => _doc.RootElement.GetProperty(name).GetProperty("data")[0].GetDouble();

    private static Tensor ToTensor(JsonElement e, ScalarType dtype)
    {
        long[] shape = [.. e.GetProperty("shape").EnumerateArray().Select(v => v.GetInt64())];
        double[] data = [.. e.GetProperty("data").EnumerateArray().Select(v => v.GetDouble())];
        return tensor(data, shape, ScalarType.Float64).to_type(dtype);
    }

    public void Dispose() => _doc.Dispose();
}
