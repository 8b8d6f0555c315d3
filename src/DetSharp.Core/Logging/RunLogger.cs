using System.Globalization;
using Microsoft.Extensions.Logging;

namespace DetSharp.Logging;

/// <summary>
/// The training log as mmcv's <c>get_logger('mmdet')</c> writes it: <c>2021-12-21 21:51:15,623 - mmdet - INFO - message</c>
/// lines to the <c>{timestamp}.log</c> file and the console. On an interactive terminal a one-line progress display
/// (<see cref="Progress"/>) is kept under the log lines; when output is redirected only the log lines are written.
/// An application's <see cref="ILogger"/> gets every message too, at the matching level.
/// <para>Thread safety: all members may be called from any thread (one lock around the writers).</para>
/// </summary>
public sealed class RunLogger : IDisposable
{
    private readonly StreamWriter? _file;
    private readonly TextWriter? _console;
    private readonly StatusLine? _status;
    private readonly Lock _lock = new();
    private readonly List<IDisposable> _owned = [];
    private readonly ILogger? _logger;

    public RunLogger(string? logFile, TextWriter? console, bool interactive, string name = "mmdet", ILogger? logger = null)
    {
        _logger = logger;
        if (logFile is not null)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(logFile))!);
            _file = new StreamWriter(logFile, append: true) { AutoFlush = true };
        }
        LogFile = logFile;
        _console = console;
        _status = interactive && console is not null ? new StatusLine(console) : null;
        Name = name;
    }

    /// <summary>A logger that keeps nothing (tests, library use).</summary>
    public static RunLogger Null => new(null, null, false);

    public string Name { get; }

    public string? LogFile { get; }

    /// <summary>Every message logged, without the time prefix (for tests and summaries).</summary>
    public List<string> Messages { get; } = [];

    public void Info(string message) => Write("INFO", message);

    public void Warning(string message) => Write("WARNING", message);

    /// <summary>Logs an error; <paramref name="toConsole"/> false keeps it to the log file (the caller reports it on the console).</summary>
    public void Error(string message, bool toConsole = true) => Write("ERROR", message, toConsole);

    private void Write(string level, string message, bool toConsole = true)
    {
        var logLevel = level switch { "ERROR" => LogLevel.Error, "WARNING" => LogLevel.Warning, _ => LogLevel.Information };
        _logger.Line(logLevel, message);
        string stamp = DateTime.Now.ToString("yyyy-MM-dd HH:mm:ss,fff", CultureInfo.InvariantCulture);
        string line = $"{stamp} - {Name} - {level} - {message}";
        lock (_lock)
        {
            Messages.Add(message);
            _file?.WriteLine(line);
            if (_console is null || !toConsole) return;
            _status?.Clear();
            _console.WriteLine(line);
            _console.Flush();
        }
    }

    /// <summary>Ties <paramref name="resource"/> (the work-dir lock) to the run's log: disposed after the log file is closed.</summary>
    public void Owns(IDisposable resource)
    {
        lock (_lock) _owned.Add(resource);
    }

    /// <summary>Shows a transient status line (interactive terminals only); replaced by the next one, cleared before log lines.</summary>
    public void Progress(string status)
    {
        if (_status is null) return;
        lock (_lock) _status.Show(status);
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _status?.Clear();
            try
            {
                _file?.Dispose();
            }
            finally
            {
                foreach (var resource in _owned) resource.Dispose();
                _owned.Clear();
            }
        }
    }
}
