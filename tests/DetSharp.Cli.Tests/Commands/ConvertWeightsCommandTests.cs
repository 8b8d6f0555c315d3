using System.Buffers.Binary;
using System.Text;
using DetSharp.Engine.Checkpoints;
using DetSharp.Models.Weights;

namespace DetSharp.Cli.Tests.Commands;

/// <summary><c>detsharp convert weights</c> on a safetensors file written here and on the NuGet ResNet-18 ONNX file.</summary>
public sealed class ConvertWeightsCommandTests : IDisposable
{
    private readonly string _tmp = Directory.CreateTempSubdirectory("detsharp-cli-weights-").FullName;

    public void Dispose() => Directory.Delete(_tmp, recursive: true);

    [Fact]
    public void Safetensors_to_pth_with_a_prefix()
    {
        // "fc.weight" F32 [2, 3] = 0, 0.25, ..., 1.25 and "fc.bias" F32 [2] = -1, 1.
        var data = new byte[32];
        for (int i = 0; i < 6; i++) BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(i * 4), i * 0.25f);
        BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(24), -1f);
        BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(28), 1f);
        var header = Encoding.UTF8.GetBytes("{\"fc.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},\"fc.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,32]}}");
        string input = Path.Combine(_tmp, "w.safetensors");
        File.WriteAllBytes(input, [.. BitConverter.GetBytes((ulong)header.Length), .. header, .. data]);
        string output = Path.Combine(_tmp, "w.pth");

        var r = CliRunner.Run("convert", "weights", input, output, "--prefix", "roi_head.bbox_head");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("2 tensors, 8 values", r.Stdout);
        using var ckpt = Checkpoint.Load(output);
        Assert.Equal(["roi_head.bbox_head.fc.weight", "roi_head.bbox_head.fc.bias"], ckpt.StateDict.Keys);
        Assert.Equal([0f, 0.25f, 0.5f, 0.75f, 1f, 1.25f], ckpt.StateDict["roi_head.bbox_head.fc.weight"].data<float>().ToArray());
        Assert.Equal([2L, 3L], ckpt.StateDict["roi_head.bbox_head.fc.weight"].shape);
        Assert.Equal([-1f, 1f], ckpt.StateDict["roi_head.bbox_head.fc.bias"].data<float>().ToArray());
    }

    [Fact]
    public void Onnx_resnet18_to_pth_under_resnet_keys()
    {
        string onnx = PretrainedWeights.LocateResNet18File();
        string output = Path.Combine(_tmp, "r18.pth");
        var r = CliRunner.Run("convert", "weights", onnx, output, "--format", "onnx");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("132 tensors", r.Stdout); // 22 convs + 22 BatchNorms × 5
        using var ckpt = Checkpoint.Load(output);
        Assert.Equal("conv1.weight", ckpt.StateDict.Keys.First());
        Assert.Equal([512L, 512, 3, 3], ckpt.StateDict["layer4.2.conv2.weight"].shape);
        Assert.Equal([128L, 64, 1, 1], ckpt.StateDict["layer2.0.downsample.0.weight"].shape);
        var direct = PretrainedWeights.Read(PretrainedWeights.ResNet18Uri);
        Assert.True(direct["layer3.1.bn2.running_var"].equal(ckpt.StateDict["layer3.1.bn2.running_var"]).all().item<bool>());
    }

    [Fact]
    public void A_missing_input_or_an_unknown_scheme_is_one_clear_error()
    {
        var r = CliRunner.Run("convert", "weights", Path.Combine(_tmp, "none.pth"), Path.Combine(_tmp, "o.pth"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("checkpoint file not found", r.Stderr);
        r = CliRunner.Run("convert", "weights", "s3://bucket/resnet50.pth", Path.Combine(_tmp, "o.pth"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("'s3://' is not a scheme DetSharp reads", r.Stderr);
        Assert.False(File.Exists(Path.Combine(_tmp, "o.pth")));
    }

    [Fact]
    public void A_url_is_read_from_TORCH_HOMEs_cache_and_offline_names_the_file_to_place_there()
    {
        const string Url = "https://download.detsharp.invalid/v2.0/resnet18_tiny_20200101-0123abcd.pth";
        var env = new Dictionary<string, string> { ["TORCH_HOME"] = Path.Combine(_tmp, "torch") };
        string cached = Path.Combine(_tmp, "torch", "hub", "checkpoints", "resnet18_tiny_20200101-0123abcd.pth");
        string output = Path.Combine(_tmp, "o.pth");

        var offline = CliRunner.RunWithEnvironment(120, env, "convert", "weights", Url, output);
        Assert.Equal(1, offline.ExitCode);
        Assert.Contains($"cannot download {Url}: ", offline.Stderr);
        Assert.Contains($"place it at {cached} (DetSharp then uses it without the network)", offline.Stderr);

        Directory.CreateDirectory(Path.GetDirectoryName(cached)!);
        using (var weight = TorchSharp.torch.arange(6f).reshape(2, 3))
        {
            var checkpoint = new PyDict { ["state_dict"] = new PyDict(isOrderedDict: true) { ["fc.weight"] = weight } };
            Checkpoint.WriteAtomically(cached, stream => TorchSerialization.Save(checkpoint, stream));
        }
        var r = CliRunner.RunWithEnvironment(120, env, "convert", "weights", Url, output);
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var converted = Checkpoint.Load(output);
        Assert.Equal([0f, 1, 2, 3, 4, 5], converted.StateDict["fc.weight"].data<float>().ToArray());
    }
}
