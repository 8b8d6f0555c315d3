using Microsoft.Extensions.Logging;

namespace DetSharp.Logging;

/// <summary>
/// Finished text lines (mmcv's log messages, DetSharp's reports) to an application's <see cref="ILogger"/>: the line is the
/// state and its own formatted text, so nothing is parsed as a message template.
/// <para>Thread safety: as the logger given.</para>
/// </summary>
public static class LogLines
{
    public static void Line(this ILogger? logger, LogLevel level, string message)
    {
        if (logger?.IsEnabled(level) == true) logger.Log(level, default, message, null, static (m, _) => m);
    }
}
