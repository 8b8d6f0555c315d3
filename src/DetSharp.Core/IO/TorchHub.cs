using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using DetSharp.Logging;

namespace DetSharp.IO;

/// <summary>Where <see cref="TorchHub"/> keeps its files and how patiently it downloads.</summary>
public sealed record TorchHubOptions
{
    /// <summary>torch.hub's <c>&lt;hub_dir&gt;/checkpoints</c>, where downloaded checkpoints are kept by file name.</summary>
    public required string CheckpointsDir { get; init; }

    /// <summary>mmcv's <c>_get_mmcv_home()</c>: <c>open-mmlab://</c> entries that are not URLs are files under it.</summary>
    public required string MmcvHome { get; init; }

    /// <summary>The longest wait for the response headers or for the next bytes of the body.</summary>
    public TimeSpan ReadTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Tries per download: network errors, timeouts, truncated bodies and server errors are retried.</summary>
    public int Attempts { get; init; } = 4;

    /// <summary>The wait before the first retry, doubled before each next one.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// torch's cache: <c>$TORCH_HOME/hub/checkpoints</c>, else <c>$XDG_CACHE_HOME/torch/hub/checkpoints</c>, else
    /// <c>~/.cache/torch/hub/checkpoints</c>; mmcv's home: <c>$MMCV_HOME</c>, else <c>$XDG_CACHE_HOME/mmcv</c>, else
    /// <c>~/.cache/mmcv</c>. <paramref name="env"/> reads a variable (the process environment by default).
    /// </summary>
    public static TorchHubOptions FromEnvironment(Func<string, string?>? env = null)
    {
        env ??= Environment.GetEnvironmentVariable;
        static string? Set(string? value) => string.IsNullOrEmpty(value) ? null : value;
        string cache = Set(env("XDG_CACHE_HOME")) ?? "~/.cache";
        string torchHome = ExpandUser(Set(env("TORCH_HOME")) ?? Path.Combine(cache, "torch"));
        string mmcvHome = ExpandUser(Set(env("MMCV_HOME")) ?? Path.Combine(cache, "mmcv"));
        return new TorchHubOptions { CheckpointsDir = Path.Combine(torchHome, "hub", "checkpoints"), MmcvHome = mmcvHome };
    }

    /// <summary>Python's <c>os.path.expanduser</c> for a leading <c>~</c>.</summary>
    private static string ExpandUser(string path) =>
        path == "~" || path.StartsWith("~/", StringComparison.Ordinal)
            ? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile) + path[1..]
            : path;
}

/// <summary>
/// torch.hub's <c>load_state_dict_from_url</c> download step, which mmcv's <c>load_from_http</c> uses: a URL's file is
/// kept in <see cref="TorchHubOptions.CheckpointsDir"/> under its file name and, once there, used without the network.
/// A download goes to <c>NAME.&lt;random&gt;.partial</c> in the same folder and is renamed when complete and verified, so
/// an interrupted one never leaves a file under the final name; a file name with torch's hash suffix
/// (<c>..._20200504_163245-42aa3d00.pth</c>) must match the SHA-256 of the body (torch's <c>check_hash</c>,
/// <see cref="HashPrefix"/>). Network
/// errors, timeouts, truncated bodies and server errors are retried with a doubling delay; every failure ends in one
/// message naming the URL and the path where a copy downloaded by hand can be placed.
/// </summary>
public sealed partial class TorchHub(TorchHubOptions options)
{
    private static readonly AsyncLocal<TorchHub?> Scoped = new();

    public TorchHubOptions Options => options;

    /// <summary>The hub in use: the one set by <see cref="Use"/> in this flow of execution, else the environment's.</summary>
    public static TorchHub Current => Scoped.Value ?? new TorchHub(TorchHubOptions.FromEnvironment());

    /// <summary>Makes <paramref name="hub"/> <see cref="Current"/> for this flow of execution (tasks it starts included) until disposed.</summary>
    public static IDisposable Use(TorchHub hub)
    {
        var previous = Scoped.Value;
        Scoped.Value = hub;
        return new Restore(() => Scoped.Value = previous);
    }

    /// <summary>torch's file name for a URL: the last segment of its path.</summary>
    public static string FileName(string url)
    {
        string name = Uri.TryCreate(url, UriKind.Absolute, out var uri) ? Path.GetFileName(uri.AbsolutePath) : "";
        return name.Length > 0 ? name : throw new DetSharpException($"checkpoint URL '{url}' does not end in a file name.");
    }

    /// <summary>
    /// The SHA-256 prefix a file name promises (torch's <c>check_hash</c> convention <c>NAME-&lt;sha256 prefix&gt;.ext</c>), or
    /// null: the hex digits (8 or more) after the name's last '-'. torch's <c>HASH_REGEX</c> takes the first <c>-hex.</c>
    /// instead, which in MMDetection's <c>..._bbox_mAP-0.408__segm_mAP-0.37_20200504_163245-42aa3d00.pth</c> is "0".
    /// </summary>
    public static string? HashPrefix(string fileName) => HashRegex().Match(fileName) is { Success: true } m ? m.Groups[1].Value : null;

    /// <summary>Where the file of <paramref name="url"/> is kept.</summary>
    public string CachedPath(string url) => Path.Combine(options.CheckpointsDir, FileName(url));

    /// <summary>
    /// The local path of <paramref name="url"/>'s file, downloaded first unless already cached. <paramref name="log"/>
    /// gets torch's <c>Downloading: "URL" to PATH</c> and the outcome; <paramref name="progress"/> a transient
    /// progress bar. Without either, both go to the console's error stream (the bar only on a terminal).
    /// </summary>
    public string Fetch(string url, Action<string>? log = null, Action<string>? progress = null)
    {
        string dest = CachedPath(url);
        if (File.Exists(dest)) return dest;
        StatusLine? status = null;
        if (log is null && progress is null)
        {
            log = Console.Error.WriteLine;
            if (!Console.IsErrorRedirected)
            {
                status = new StatusLine(Console.Error);
                progress = status.Show;
            }
        }
        try
        {
            Directory.CreateDirectory(options.CheckpointsDir);
            log?.Invoke($"Downloading: \"{url}\" to {dest}");
            var started = Stopwatch.GetTimestamp();
            long bytes = Download(url, dest, log, progress);
            status?.Clear();
            log?.Invoke(string.Create(CultureInfo.InvariantCulture,
                $"Downloaded {Megabytes(bytes)} in {Stopwatch.GetElapsedTime(started).TotalSeconds:F1} s: {dest}"));
            return dest;
        }
        finally
        {
            status?.Clear();
        }
    }

    private long Download(string url, string dest, Action<string>? log, Action<string>? progress)
    {
        string? hashPrefix = HashPrefix(Path.GetFileName(dest));
        string placeIt = $"Download it yourself and place it at {dest} (DetSharp then uses it without the network).";
        var delay = options.RetryDelay;
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return DownloadOnce(url, dest, hashPrefix, progress).GetAwaiter().GetResult();
            }
            catch (DownloadFailure failure)
            {
                if (!failure.Retry || attempt >= options.Attempts)
                {
                    string tries = attempt > 1 ? $" after {attempt} attempts" : "";
                    string why = failure.Offline
                        ? $"cannot download {url}{tries}: {failure.Message} (no network, or the server is out of reach)"
                        : $"download of {url} failed{tries}: {failure.Message}";
                    throw new DetSharpException($"{why}. {placeIt}", failure);
                }
                log?.Invoke($"download of {url} failed ({failure.Message}); retrying in {delay.TotalSeconds:0.##} s");
                Thread.Sleep(delay);
                delay *= 2;
            }
        }
    }

    private async Task<long> DownloadOnce(string url, string dest, string? hashPrefix, Action<string>? progress)
    {
        string temp = $"{dest}.{Guid.NewGuid():N}.partial";
        using var timeout = new CancellationTokenSource(options.ReadTimeout);
        try
        {
            using var client = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            request.Headers.UserAgent.Add(new ProductInfoHeaderValue("DetSharp", "1.0"));
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                int code = (int)response.StatusCode;
                // Server errors, timeouts and throttling may pass; any other status (404, 403, ...) will not.
                bool retry = code >= 500 || response.StatusCode is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests;
                throw new DownloadFailure($"HTTP {code} {response.ReasonPhrase}", retry);
            }
            long? total = response.Content.Headers.ContentLength;
            long done = 0;
            string hash;
            var stream = await response.Content.ReadAsStreamAsync(timeout.Token).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
                await using (file.ConfigureAwait(false))
                {
                    using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                    var buffer = new byte[1 << 16];
                    var started = Stopwatch.GetTimestamp();
                    long shown = 0;
                    while (true)
                    {
                        timeout.CancelAfter(options.ReadTimeout);
                        int n = await stream.ReadAsync(buffer, timeout.Token).ConfigureAwait(false);
                        if (n == 0) break;
                        sha.AppendData(buffer, 0, n);
                        await file.WriteAsync(buffer.AsMemory(0, n), timeout.Token).ConfigureAwait(false);
                        done += n;
                        long now = Stopwatch.GetTimestamp();
                        if (progress is not null && (Stopwatch.GetElapsedTime(shown, now).TotalMilliseconds >= 200 || done == total))
                        {
                            shown = now;
                            progress(Render(done, total, Stopwatch.GetElapsedTime(started, now).TotalSeconds));
                        }
                    }
                    if (total is { } expected && done != expected)
                        throw new DownloadFailure($"the body ended after {done} of {expected} bytes", retry: true);
                    hash = Convert.ToHexStringLower(sha.GetHashAndReset());
                }
            }
            if (hashPrefix is not null && !hash.StartsWith(hashPrefix, StringComparison.Ordinal))
            {
                throw new DownloadFailure(
                    $"invalid hash value (expected \"{hashPrefix}\", got \"{hash}\"): the file name promises a SHA-256 starting with " +
                    $"{hashPrefix}, so the download is corrupt or not the file named; it was not kept", retry: false);
            }
            File.Move(temp, dest, overwrite: true);
            return done;
        }
        catch (OperationCanceledException e) when (timeout.IsCancellationRequested)
        {
            throw new DownloadFailure($"no data from the server for {options.ReadTimeout.TotalSeconds:0.###} s", retry: true, inner: e);
        }
        catch (HttpRequestException e) when (e.StatusCode is null)
        {
            // DNS failure or a refused connection: the network (or the server) is out of reach.
            // A name that does not resolve will not resolve a second later; a refused connection may be a restart.
            bool offline = e.HttpRequestError is HttpRequestError.NameResolutionError or HttpRequestError.ConnectionError;
            throw new DownloadFailure(e.Message, retry: e.HttpRequestError != HttpRequestError.NameResolutionError, offline, e);
        }
        catch (IOException e)
        {
            throw new DownloadFailure(e.Message, retry: true, inner: e);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    /// <summary><c>[&gt;&gt;&gt;   ] 12.3 MB / 44.7 MB, 5.1 MB/s</c>, or just the amount and rate when the size is unknown.</summary>
    private static string Render(long done, long? total, double seconds)
    {
        string rate = Megabytes((long)(done / Math.Max(seconds, 1e-3))) + "/s";
        return total is > 0 and var t
            ? $"{ProgressBar.Filled((double)done / t)} {Megabytes(done)} / {Megabytes(t)}, {rate}"
            : $"{Megabytes(done)}, {rate}";
    }

    private static string Megabytes(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e6:F1} MB");

    [GeneratedRegex(@"-([a-f0-9]{8,})\.[^-]*$")]
    private static partial Regex HashRegex();

    /// <summary>One failed attempt: whether another may succeed, and whether the network is out of reach.</summary>
    private sealed class DownloadFailure(string message, bool retry, bool offline = false, Exception? inner = null) : Exception(message, inner)
    {
        public bool Retry { get; } = retry;

        public bool Offline { get; } = offline;
    }

    private sealed class Restore(Action restore) : IDisposable
    {
        public void Dispose() => restore();
    }
}
