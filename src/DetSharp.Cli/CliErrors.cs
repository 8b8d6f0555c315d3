using System.CommandLine;

namespace DetSharp.Cli;

/// <summary>
/// One place that turns exceptions into what a user sees: the message alone for input errors
/// (a <see cref="DetSharpException"/>), the full exception only with <c>--verbose</c>.
/// </summary>
internal static class CliErrors
{
    public static readonly Option<bool> VerboseOption = new("--verbose")
    {
        Description = "Print stack traces for errors.",
        Recursive = true,
    };

    public static int Run(Command root, string[] args)
    {
        var parse = root.Parse(args);
        bool verbose = parse.GetValue(VerboseOption);
        try
        {
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e)
        {
            var error = Unwrap(e);
            Console.Error.WriteLine(verbose ? error.ToString() : Describe(error));
            return 1;
        }
    }

    /// <summary>The one line a user sees for an error: the message of an input error, else its type and message.</summary>
    public static string Describe(Exception e)
    {
        var error = Unwrap(e);
        return error is DetSharpException ? $"error: {error.Message}" : $"error: {error.GetType().Name}: {error.Message} (run with --verbose for details)";
    }

    private static Exception Unwrap(Exception e)
    {
        while (e is AggregateException { InnerExceptions.Count: 1 } or System.Reflection.TargetInvocationException
               && e.InnerException is not null)
            e = e.InnerException!;
        return e;
    }
}
