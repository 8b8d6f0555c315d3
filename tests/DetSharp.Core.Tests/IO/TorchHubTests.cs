using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using DetSharp.Core.Tests.TestSupport;
using DetSharp.IO;

namespace DetSharp.Core.Tests.IO;

/// <summary>Issue 23: checkpoints by URL into torch's cache, against a server on 127.0.0.1.</summary>
public sealed class TorchHubTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly LoopbackHttpServer _server = new();
    private readonly byte[] _body = RandomNumberGenerator.GetBytes(300_000);
    private readonly List<string> _log = [];

    public void Dispose()
    {
        _server.Dispose();
        _dir.Dispose();
    }

    private string CacheDir => Path.Combine(_dir.Path, "torch", "hub", "checkpoints");

    private TorchHub Hub(double timeoutSeconds = 5) => new(new TorchHubOptions
    {
        CheckpointsDir = CacheDir,
        MmcvHome = Path.Combine(_dir.Path, "mmcv"),
        ReadTimeout = TimeSpan.FromSeconds(timeoutSeconds),
        Attempts = 3,
        RetryDelay = TimeSpan.FromMilliseconds(10),
    });

    /// <summary>An MMDetection-style name whose hash suffix is the body's SHA-256 prefix.</summary>
    private static string NameFor(byte[] body) => $"mask_rcnn_r50_fpn_1x_coco_20200205-{Convert.ToHexStringLower(SHA256.HashData(body))[..8]}.pth";

    private string Fetch(string url) => Hub().Fetch(url, _log.Add, _ => { });

    private void AssertNothingLeft() =>
        Assert.Empty(Directory.Exists(CacheDir) ? Directory.GetFiles(CacheDir) : []);

    [Fact]
    public void Environment_gives_torchs_cache_folders()
    {
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        var none = TorchHubOptions.FromEnvironment(_ => null);
        Assert.Equal(Path.Combine(home, ".cache", "torch", "hub", "checkpoints"), none.CheckpointsDir);
        Assert.Equal(Path.Combine(home, ".cache", "mmcv"), none.MmcvHome);
        var xdg = TorchHubOptions.FromEnvironment(k => k == "XDG_CACHE_HOME" ? "/x/cache" : null);
        Assert.Equal("/x/cache/torch/hub/checkpoints", xdg.CheckpointsDir);
        Assert.Equal("/x/cache/mmcv", xdg.MmcvHome);
        var torchHome = TorchHubOptions.FromEnvironment(k => k switch { "TORCH_HOME" => "/t", "XDG_CACHE_HOME" => "/x", "MMCV_HOME" => "~/m", _ => null });
        Assert.Equal("/t/hub/checkpoints", torchHome.CheckpointsDir);
        Assert.Equal(Path.Combine(home, "m"), torchHome.MmcvHome);
    }

    [Theory]
    [InlineData("mask_rcnn_r50_caffe_fpn_mstrain-poly_3x_coco_bbox_mAP-0.408__segm_mAP-0.37_20200504_163245-42aa3d00.pth", "42aa3d00")]
    [InlineData("alexnet-owt-7be5be79.pth", "7be5be79")]
    [InlineData("resnet50_caffe-788b5fa3.pth", "788b5fa3")]
    [InlineData("my_model.pth", null)]
    [InlineData("detector-1.pth", null)]
    [InlineData("x-0123abcd.tar.gz", "0123abcd")]
    public void The_hash_prefix_is_torchs(string fileName, string? expected) => Assert.Equal(expected, TorchHub.HashPrefix(fileName));

    [Fact]
    public void A_good_file_is_downloaded_once_then_used_without_the_network()
    {
        string name = NameFor(_body);
        _server.File("/v2.0/" + name, _body);
        string url = _server.Url("/v2.0/" + name);

        string path = Fetch(url);

        Assert.Equal(Path.Combine(CacheDir, name), path);
        Assert.Equal(_body, File.ReadAllBytes(path));
        Assert.Equal([name], Directory.GetFiles(CacheDir).Select(Path.GetFileName));
        Assert.Contains($"Downloading: \"{url}\" to {path}", _log);
        Assert.Contains(_log, l => l.StartsWith("Downloaded 0.3 MB in ", StringComparison.Ordinal));
        Assert.Equal(1, _server.Requests["/v2.0/" + name]);

        _server.Dispose(); // the cached file needs no server
        Assert.Equal(path, Fetch(url));
    }

    [Fact]
    public void The_progress_bar_ends_full()
    {
        string name = NameFor(_body);
        _server.File("/" + name, _body);
        var shown = new List<string>();
        Hub().Fetch(_server.Url("/" + name), _log.Add, shown.Add);
        Assert.Equal($"[{new string('>', 40)}] 0.3 MB / 0.3 MB", shown[^1][..(42 + " 0.3 MB / 0.3 MB".Length)]);
    }

    [Fact]
    public void A_wrong_hash_is_refused_and_nothing_is_kept()
    {
        _server.File("/resnet50-deadbeef.pth", _body);
        string url = _server.Url("/resnet50-deadbeef.pth");

        var e = Assert.Throws<DetSharpException>(() => Fetch(url));

        string digest = Convert.ToHexStringLower(SHA256.HashData(_body));
        Assert.Contains($"download of {url} failed: invalid hash value (expected \"deadbeef\", got \"{digest}\")", e.Message);
        Assert.Contains($"place it at {Path.Combine(CacheDir, "resnet50-deadbeef.pth")}", e.Message);
        Assert.Equal(1, _server.Requests["/resnet50-deadbeef.pth"]); // a wrong file is not fetched again
        AssertNothingLeft();
    }

    [Fact]
    public void A_truncated_body_is_retried_then_reported_and_never_left_as_the_file()
    {
        string name = NameFor(_body);
        _server.Route("/" + name, (_, s) => LoopbackHttpServer.Respond(s, "200 OK", _body[..1000], contentLength: _body.Length));
        string url = _server.Url("/" + name);

        var e = Assert.Throws<DetSharpException>(() => Fetch(url));

        Assert.StartsWith($"download of {url} failed after 3 attempts: ", e.Message);
        Assert.Contains($"place it at {Path.Combine(CacheDir, name)}", e.Message);
        Assert.Equal(3, _server.Requests["/" + name]);
        AssertNothingLeft();
    }

    [Fact]
    public void A_transient_failure_is_retried_with_success()
    {
        string name = NameFor(_body);
        _server.Route("/" + name, (n, s) =>
        {
            if (n == 1) LoopbackHttpServer.Respond(s, "503 Service Unavailable", []);
            else LoopbackHttpServer.Respond(s, "200 OK", _body);
        });

        string path = Fetch(_server.Url("/" + name));

        Assert.Equal(_body, File.ReadAllBytes(path));
        Assert.Equal(2, _server.Requests["/" + name]);
        Assert.Contains($"download of {_server.Url("/" + name)} failed (HTTP 503 Service Unavailable); retrying in 0.01 s", _log);
    }

    [Fact]
    public void Not_found_is_reported_at_once()
    {
        string url = _server.Url("/models/missing-0123abcd.pth");

        var e = Assert.Throws<DetSharpException>(() => Fetch(url));

        Assert.Equal($"download of {url} failed: HTTP 404 Not Found. Download it yourself and place it at "
                     + $"{Path.Combine(CacheDir, "missing-0123abcd.pth")} (DetSharp then uses it without the network).", e.Message);
        Assert.Equal(1, _server.Requests["/models/missing-0123abcd.pth"]);
        AssertNothingLeft();
    }

    [Fact]
    public void A_server_that_stops_sending_times_out()
    {
        string name = NameFor(_body);
        _server.Route("/" + name, (_, s) =>
        {
            LoopbackHttpServer.Head(s, "200 OK", _body.Length);
            s.Write(_body.AsSpan(0, 1000));
            s.Flush();
            Thread.Sleep(TimeSpan.FromSeconds(2));
        });
        string url = _server.Url("/" + name);

        var e = Assert.Throws<DetSharpException>(() => Hub(0.2).Fetch(url, _log.Add, _ => { }));

        Assert.StartsWith($"download of {url} failed after 3 attempts: no data from the server for 0.2 s.", e.Message);
        AssertNothingLeft();
    }

    [Fact]
    public void A_redirect_is_followed_and_the_file_keeps_the_requested_name()
    {
        string name = NameFor(_body);
        _server.File("/storage/blob-1234", _body);
        _server.Route("/" + name, (_, s) => LoopbackHttpServer.Respond(s, "302 Found", [], extraHeaders: $"Location: {_server.Url("/storage/blob-1234")}\r\n"));

        string path = Fetch(_server.Url("/" + name));

        Assert.Equal(Path.Combine(CacheDir, name), path);
        Assert.Equal(_body, File.ReadAllBytes(path));
        Assert.Equal(1, _server.Requests["/storage/blob-1234"]);
    }

    [Fact]
    public void Offline_is_one_message_naming_the_url_and_the_cache_path()
    {
        // A port nothing listens on: the connection is refused, as with no network to the host.
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        string url = $"http://127.0.0.1:{port}/mmdetection/v2.0/cascade_mask_rcnn_r50_fpn_1x_coco_20200203-9d4dcb24.pth";

        var e = Assert.Throws<DetSharpException>(() => Fetch(url));

        Assert.StartsWith($"cannot download {url} after 3 attempts: ", e.Message);
        Assert.EndsWith("(no network, or the server is out of reach). Download it yourself and place it at "
                        + $"{Path.Combine(CacheDir, "cascade_mask_rcnn_r50_fpn_1x_coco_20200203-9d4dcb24.pth")} (DetSharp then uses it without the network).", e.Message);

        // A host name that cannot resolve (RFC 2606's .invalid) is not retried.
        var dns = Assert.Throws<DetSharpException>(() => Fetch("https://download.detsharp.invalid/x-0123abcd.pth"));
        Assert.StartsWith("cannot download https://download.detsharp.invalid/x-0123abcd.pth: ", dns.Message);
        Assert.Contains($"place it at {Path.Combine(CacheDir, "x-0123abcd.pth")}", dns.Message);
        AssertNothingLeft();
    }

    [Fact]
    public async Task Use_sets_the_hub_for_this_flow_only()
    {
        var hub = Hub();
        using (TorchHub.Use(hub))
        {
            Assert.Same(hub, TorchHub.Current);
            Assert.Same(hub, await Task.Run(() => TorchHub.Current));
        }
        Assert.NotSame(hub, TorchHub.Current);
    }
}
