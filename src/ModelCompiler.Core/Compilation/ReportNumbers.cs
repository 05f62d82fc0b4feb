using System.Globalization;

namespace ModelCompiler.Compilation;

/// <summary>
/// Numbers as the report, the CLI and logs print them: plain decimals in the invariant culture, never exponent
/// notation, and a sign that matches the rounded value (no "-+0.000" for a tiny negative).
/// </summary>
public static class ReportNumbers
{
    /// <summary>A signed fixed-point figure: "+0.124", "-0.031", and "+0.000" for anything that rounds to zero.</summary>
    public static string Signed(double value, int decimals)
    {
        if (!double.IsFinite(value)) return value.ToString(CultureInfo.InvariantCulture);
        var rounded = Math.Round(value, decimals, MidpointRounding.AwayFromZero);
        if (rounded == 0) rounded = 0; // folds -0 into +0
        return (rounded < 0 ? "" : "+") + rounded.ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
    }

    /// <summary>A signed percentage with its sign and unit: "+0.1247%".</summary>
    public static string SignedPercent(double value, int decimals) => Signed(value, decimals) + "%";

    /// <summary>
    /// A non-negative-or-any figure with <paramref name="digits"/> significant digits as a plain decimal: 0.0105 rather
    /// than 1.052E-002, 0.00000123 for tiny values; at most 12 decimals (smaller values print as 0.000000000000).
    /// </summary>
    public static string Significant(double value, int digits)
    {
        if (!double.IsFinite(value)) return value.ToString(CultureInfo.InvariantCulture);
        if (value == 0) return (0.0).ToString("F" + (digits - 1).ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        var magnitude = (int)Math.Floor(Math.Log10(Math.Abs(value)));
        var decimals = Math.Clamp(digits - 1 - magnitude, 0, 12);
        return value.ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
    }

    /// <summary>A limit as written in a spec: as many decimals as it has (up to 12), no trailing zeros, no exponent.</summary>
    public static string Plain(double value) =>
        double.IsFinite(value) ? value.ToString("0.############", CultureInfo.InvariantCulture) : value.ToString(CultureInfo.InvariantCulture);
}
