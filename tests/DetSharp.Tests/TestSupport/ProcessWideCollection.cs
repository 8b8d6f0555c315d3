namespace DetSharp.Tests.TestSupport;

/// <summary>
/// Tests that measure or change process-wide state (resident memory, the finalizer thread, torch's global random
/// generator that a seeded training run draws its init and sampling from) run in this collection: xunit runs it after
/// the parallel ones, one test at a time, so no other test's models, threads or random draws skew them.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessWideCollection
{
    public const string Name = "process-wide";
}
