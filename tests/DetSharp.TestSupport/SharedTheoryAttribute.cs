using Xunit;

namespace DetSharp.TestSupport;

/// <summary>A theory that needs <c>../shared</c> (and the given paths in it): skipped, saying why, where they are absent.</summary>
public sealed class SharedTheoryAttribute : TheoryAttribute
{
    public SharedTheoryAttribute(params string[] required)
    {
        if (SharedData.SkipReason(required) is { } reason) Skip = reason;
    }
}
