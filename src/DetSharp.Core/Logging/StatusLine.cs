namespace DetSharp.Logging;

/// <summary>
/// A one-line display redrawn in place on an interactive terminal (carriage return, padded over the previous text, cut to
/// the window width), for progress bars and the training status line. Not thread-safe: its owner serialises the calls.
/// </summary>
public sealed class StatusLine(TextWriter console)
{
    private int _width;

    /// <summary>Replaces the displayed text.</summary>
    public void Show(string text)
    {
        int max = Math.Max(20, WindowWidth() - 1);
        if (text.Length > max) text = text[..max];
        console.Write("\r" + text.PadRight(_width));
        console.Flush();
        _width = text.Length;
    }

    /// <summary>Blanks the line, so that ordinary output can follow at its start.</summary>
    public void Clear()
    {
        if (_width == 0) return;
        console.Write("\r" + new string(' ', _width) + "\r");
        _width = 0;
    }

    /// <summary>Leaves the text on screen and moves to the next line.</summary>
    public void Finish()
    {
        if (_width == 0) return;
        console.WriteLine();
        _width = 0;
    }

    private static int WindowWidth()
    {
        try
        {
            return Console.WindowWidth > 0 ? Console.WindowWidth : 120;
        }
        catch (IOException)
        {
            return 120;
        }
    }
}
