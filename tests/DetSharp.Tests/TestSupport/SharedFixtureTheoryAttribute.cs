namespace DetSharp.Tests.TestSupport;

/// <summary>A theory that needs a file under <c>../shared</c>: skipped, with the reason, when the file is not there.</summary>
public sealed class SharedFixtureTheoryAttribute : TheoryAttribute
{
    /// <summary>Skips the theory unless <paramref name="relativePath"/> exists under the shared folder.</summary>
    public SharedFixtureTheoryAttribute(string relativePath)
    {
        if (SharedFixtures.TryPath(relativePath) is null)
        {
            Skip = SharedFixtures.Root is null
                ? $"Shared fixtures folder not found (expected ../shared beside the folder holding DetSharp.slnx); needs '{relativePath}'."
                : $"Shared fixture '{relativePath}' not found under {SharedFixtures.Root}.";
        }
    }
}
