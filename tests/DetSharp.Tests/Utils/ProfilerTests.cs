using DetSharp.Utils;

namespace DetSharp.Tests.Utils;

/// <summary>
/// The <see cref="Profiler"/>: own (exclusive) time per section, calls counted, sections of several threads summed, nothing
/// recorded or allocated while it is off. Section names are this class's own, as other tests open the detector's sections.
/// </summary>
public class ProfilerTests
{
    [Fact]
    public void A_nested_section_is_counted_in_itself_only_and_the_sections_stay_within_the_wall_time()
    {
        Profiler.Start();
        try
        {
            var watch = System.Diagnostics.Stopwatch.StartNew();
            for (int i = 0; i < 3; i++)
            {
                using var outer = Profiler.Scope("test: outer");
                Thread.Sleep(5);
                using (Profiler.Scope("test: inner")) Thread.Sleep(20);
                using (Profiler.Scope("test: inner")) Thread.Sleep(1);
            }
            double wall = watch.Elapsed.TotalSeconds;
            var sections = Profiler.Snapshot().Where(s => s.Name.StartsWith("test: ", StringComparison.Ordinal)).ToDictionary(s => s.Name);

            Assert.Equal(3, sections["test: outer"].Calls);
            Assert.Equal(6, sections["test: inner"].Calls);
            // inner slept 63 ms in all, outer's own 15 ms: without the exclusion outer would hold inner's time too.
            Assert.True(sections["test: inner"].Seconds >= 0.063);
            Assert.True(sections["test: outer"].Seconds >= 0.015);
            Assert.True(sections["test: outer"].Seconds < sections["test: inner"].Seconds);
            Assert.True(sections["test: outer"].Seconds + sections["test: inner"].Seconds <= wall);
        }
        finally
        {
            Profiler.Stop();
        }
    }

    [Fact]
    public void Sections_of_several_threads_are_all_counted()
    {
        Profiler.Start();
        try
        {
            Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 4 }, _ =>
            {
                for (int i = 0; i < 100; i++)
                {
                    using var outer = Profiler.Scope("test: thread outer");
                    using var inner = Profiler.Scope("test: thread inner");
                }
            });
            var sections = Profiler.Snapshot().ToDictionary(s => s.Name);

            Assert.Equal(800, sections["test: thread outer"].Calls);
            Assert.Equal(800, sections["test: thread inner"].Calls);
        }
        finally
        {
            Profiler.Stop();
        }
    }

    [Fact]
    public void Off_it_records_nothing_and_allocates_nothing()
    {
        Profiler.Start();
        Profiler.Stop();
        using (Profiler.Scope("test: warm the path")) { }
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++)
        {
            using var scope = Profiler.Scope("test: off");
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.DoesNotContain(Profiler.Snapshot(), s => s.Name.StartsWith("test: ", StringComparison.Ordinal));
    }
}
