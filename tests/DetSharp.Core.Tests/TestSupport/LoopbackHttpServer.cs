using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace DetSharp.Core.Tests.TestSupport;

/// <summary>
/// A minimal HTTP/1.1 server on 127.0.0.1 (a free port chosen by the OS) for download tests. Each route writes its raw
/// response to the connection, so a test can send what a real server would never send on purpose: a body shorter than
/// its Content-Length, headers and then silence. One request per connection; every request's path is counted. Connections
/// are served on threads of their own, so that a busy thread pool (tests blocking on downloads) does not delay them.
/// </summary>
public sealed class LoopbackHttpServer : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly ConcurrentDictionary<string, Action<int, Stream>> _routes = new(StringComparer.Ordinal);
    private readonly Thread _loop;
    private bool _disposed;

    public LoopbackHttpServer()
    {
        _listener.Start();
        _loop = new Thread(AcceptLoop) { IsBackground = true };
        _loop.Start();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public string Url(string path) => $"http://127.0.0.1:{Port}{path}";

    public ConcurrentDictionary<string, int> Requests { get; } = new(StringComparer.Ordinal);

    /// <summary>Serves <paramref name="path"/> with <paramref name="respond"/>(nth request to it, from 1; the connection).</summary>
    public void Route(string path, Action<int, Stream> respond) => _routes[path] = respond;

    public void File(string path, byte[] body) => Route(path, (_, s) => Respond(s, "200 OK", body));

    public static void Respond(Stream s, string status, byte[] body, int? contentLength = null, string extraHeaders = "")
    {
        Head(s, status, contentLength ?? body.Length, extraHeaders);
        s.Write(body);
    }

    public static void Head(Stream s, string status, long contentLength, string extraHeaders = "")
    {
        string head = $"HTTP/1.1 {status}\r\nContent-Length: {contentLength}\r\nContent-Type: application/octet-stream\r\n{extraHeaders}Connection: close\r\n\r\n";
        s.Write(Encoding.ASCII.GetBytes(head));
        s.Flush();
    }

    private void AcceptLoop()
    {
        while (true)
        {
            TcpClient client;
            try
            {
                client = _listener.AcceptTcpClient();
            }
            catch (Exception e) when (e is ObjectDisposedException or SocketException or InvalidOperationException)
            {
                return;
            }
            new Thread(() => Serve(client)) { IsBackground = true }.Start();
        }
    }

    private void Serve(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                string path = ReadRequestPath(stream);
                int n = Requests.AddOrUpdate(path, 1, (_, c) => c + 1);
                if (_routes.TryGetValue(path, out var respond)) respond(n, stream);
                else Respond(stream, "404 Not Found", Encoding.ASCII.GetBytes("not found"));
            }
            catch (IOException)
            {
                // The client gave up (a timeout test): nothing to answer.
            }
        }
    }

    private static string ReadRequestPath(NetworkStream stream)
    {
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && stream.Read(one) == 1) head.Append((char)one[0]);
        string[] requestLine = head.ToString().Split("\r\n")[0].Split(' ');
        return requestLine.Length > 1 ? requestLine[1] : "";
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _listener.Stop();
        _loop.Join(TimeSpan.FromSeconds(5));
    }
}
