using ModelCompiler.Compilation;

namespace ModelCompiler.Core.Tests.Policies;

public sealed class SensitivityLabelTests
{
    [Fact]
    public void A_layer_is_sensitive_when_its_KL_exceeds_twice_the_mean()
    {
        // Mean (1 + 1 + 1 + 9) / 4 = 3: only 9 > 6. Median 1: 9 is not above 30.
        Assert.Equal([false, false, false, true], SensitivitySweep.Labels([1, 1, 1, 9], 2));
    }

    [Fact]
    public void A_milder_outlier_counts_when_one_layer_dominates_the_mean()
    {
        // Mean of 1, 1, 1, 1, 40, 1000 = 174, twice that 348: only 1000. Median 1: 40 > 30 as well.
        Assert.Equal([false, false, false, false, true, true], SensitivitySweep.Labels([1, 1, 1, 1, 40, 1000], 2));
    }

    [Fact]
    public void Equal_layers_are_none_of_them_sensitive() =>
        Assert.All(SensitivitySweep.Labels([5, 5, 5, 5, 5], 2), Assert.False);
}
