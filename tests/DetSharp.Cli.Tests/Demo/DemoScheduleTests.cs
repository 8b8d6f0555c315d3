using DetSharp.Cli.Demo;

namespace DetSharp.Cli.Tests.Demo;

/// <summary>Issue 27, item 9: the demo's schedule always trains, evaluates its last epoch and survives a noisy timing.</summary>
public class DemoScheduleTests
{
    [Fact]
    public void The_median_ignores_an_iteration_slowed_by_another_process()
    {
        Assert.Equal(0.34, DemoSchedule.Median([0.31, 5.3, 0.33, 0.35, 0.32, 0.34, 0.36]), 12);
        Assert.Equal(0.335, DemoSchedule.Median([0.31, 5.3, 0.33, 0.34]), 12);
    }

    [Fact]
    public void A_quiet_machine_fills_the_budget()
    {
        // The README's figures: 0.33 s/iter, 160 images at batch 2, 40 val images, evaluation every 2 epochs, about 4.75 min left after generating and timing.
        var plan = DemoSchedule.Fit(0.33, 80, 40, 285, 2, 200);

        Assert.Equal(9, plan.Epochs);
        Assert.Equal(7, plan.LrStep);
        Assert.Equal(180, plan.WarmupIters);
        Assert.Equal(1, plan.EvalStart); // evaluates after epochs 1, 3, 5, 7 and 9: the last one included
        Assert.False(plan.OverBudget);
    }

    [Fact]
    public void A_busy_machine_still_trains_the_minimum_and_evaluates_the_last_epoch()
    {
        // The run: 5.3 s/iter fitted 1 epoch, which evaluation (every 2) never reached.
        var plan = DemoSchedule.Fit(5.3, 80, 40, 270, 2, 200);

        Assert.Equal(DemoSchedule.MinEpochs, plan.Epochs);
        Assert.True(plan.LrStep is >= 1 and < DemoSchedule.MinEpochs);
        Assert.Equal(0, (plan.Epochs - plan.EvalStart) % plan.EvalInterval);
        Assert.Equal(60, plan.WarmupIters); // a quarter of the 240 iterations, not 200 of them
        Assert.True(plan.OverBudget);
        Assert.True(plan.EstimatedSeconds > 270);
    }

    [Theory]
    [InlineData(3, 1)]
    [InlineData(4, 2)]
    [InlineData(7, 3)]
    [InlineData(40, 5)]
    public void The_last_epoch_is_always_evaluated(int epochsWanted, int interval)
    {
        double perEpoch = 10 * 1.0 + 4 * 1.0 * DemoSchedule.EvalCostPerImage / interval;
        var plan = DemoSchedule.Fit(1.0, 10, 4, perEpoch * epochsWanted + 0.5, interval, 500);

        Assert.Equal(epochsWanted, plan.Epochs);
        Assert.InRange(plan.EvalStart, 1, interval);
        Assert.Equal(0, (plan.Epochs - plan.EvalStart) % interval);
    }

    [Fact]
    public void A_budget_already_spent_still_gives_the_minimum()
    {
        var plan = DemoSchedule.Fit(0.5, 4, 4, -20, 2, 200);

        Assert.Equal(DemoSchedule.MinEpochs, plan.Epochs);
        Assert.Equal(3, plan.WarmupIters);
    }
}
