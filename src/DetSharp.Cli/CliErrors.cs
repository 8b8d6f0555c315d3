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
            if (verbose)
                Console.Error.WriteLine(error);
            else if (error is DetSharpException)
                Console.Error.WriteLine($"error: {error.Message}");
            else
                Console.Error.WriteLine($"error: {error.GetType().Name}: {error.Message} (run with --verbose for details)");
            return 1;
        }
    }

    private static Exception Unwrap(Exception e)
    {
        while (e is AggregateException { InnerExceptions.Count: 1 } or System.Reflection.TargetInvocationException
               && e.InnerException is not null)
            e = e.InnerException!;
        return e;
    }
}
