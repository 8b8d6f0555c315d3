namespace DetSharp.Core.Tests.TestSupport;

/// <summary>
/// A <see cref="Random"/> that returns recorded uniform draws (MMDetection's, from the oracle scripts of tools/oracle);
/// Next(n) is then ⌊u·n⌋ and Next(a, b) a + ⌊u·(b − a)⌋, as numpy's draws were replayed. Drawing more than was recorded fails.
/// </summary>
public sealed class ReplayedRandom(double[] draws) : Random
{
    public int Used { get; private set; }

    protected override double Sample() => Used < draws.Length
        ? draws[Used++]
        : throw new InvalidOperationException($"the transform drew more than the {draws.Length} values MMDetection drew");
}
