using Xunit.Abstractions;
using Xunit.Sdk;

namespace ModelCompiler.Integration.Tests;

/// <summary>The place of a test in a class whose tests walk one project through its life, build after build.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class StepAttribute(int order) : Attribute
{
    public int Order { get; } = order;
}

/// <summary>Runs a class's tests in <see cref="StepAttribute"/> order.</summary>
public sealed class StepOrderer : ITestCaseOrderer
{
    public const string TypeName = "ModelCompiler.Integration.Tests.StepOrderer";
    public const string AssemblyName = "ModelCompiler.Integration.Tests";

    public IEnumerable<TTestCase> OrderTestCases<TTestCase>(IEnumerable<TTestCase> testCases) where TTestCase : ITestCase =>
        testCases.OrderBy(t => t.TestMethod.Method.GetCustomAttributes(typeof(StepAttribute).AssemblyQualifiedName)
            .Select(a => a.GetConstructorArguments().Cast<int>().First())
            .DefaultIfEmpty(int.MaxValue)
            .First());
}
