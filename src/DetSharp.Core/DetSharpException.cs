namespace DetSharp;

/// <summary>
/// An error caused by the user's input (a config, a dataset, a checkpoint, a command-line argument).
/// The message alone must tell the user what is wrong and where (file, line, key or image) and what to do;
/// the CLI prints it without a stack trace.
/// </summary>
public class DetSharpException : Exception
{
    public DetSharpException(string message) : base(message) { }

    public DetSharpException(string message, Exception inner) : base(message, inner) { }
}
