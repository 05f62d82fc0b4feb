using System.Globalization;
using ModelCompiler.Calibration;

namespace ModelCompiler.Spec;

/// <summary>
/// Turns the YAML nodes of one spec into a <see cref="QuantizationSpec"/>: checks keys, types, ranges and
/// cross-key rules, fills in defaults, resolves paths. Every error is a <see cref="ModelCompilerException"/>
/// at the line and column of the offending key or value.
/// </summary>
internal sealed class SpecParser(string file, string baseDirectory, bool checkFiles)
{
    private const int DefaultContext = 256;
    private const int DefaultMaxTokens = 8192;
    private const int DefaultGeneratedTokens = 4096;
    private const int DefaultCalibrationSeed = 1;

    private static readonly IReadOnlyList<(string Name, CompileTarget Value)> Targets =
        [("cpu", CompileTarget.Cpu), ("cuda", CompileTarget.Cuda)];

    private static readonly IReadOnlyList<(string Name, FallbackPrecision Value)> Precisions =
        [("fp16", FallbackPrecision.Fp16), ("fp32", FallbackPrecision.Fp32)];

    private static readonly IReadOnlyList<(string Name, ExecutionProviderKind Value)> Providers =
        [("cpu", ExecutionProviderKind.Cpu), ("cuda", ExecutionProviderKind.Cuda)];

    private static readonly IReadOnlyList<(string Name, GateFailureAction Value)> OnFailChoices =
        [("stop", GateFailureAction.Stop), ("fallback", GateFailureAction.Fallback)];

    private readonly List<SpecDiagnostic> _warnings = [];
    private readonly SpecLocation _fileOnly = SpecLocation.InFile(file);

    public SpecLoadResult Parse(string text)
    {
        var root = SpecYaml.ReadSingleDocument(text, file)
            ?? throw new SpecLocation(file, 1, 1).Error(SpecCodes.EmptySpec,
                "the spec is empty; write at least a calibration section, e.g. 'calibration: { text: data/calib.txt }'");
        if (root is not YMapping rootMapping)
        {
            throw root.Location.Error(SpecCodes.TopLevelNotMapping,
                $"the top level of a spec must be a mapping of keys such as 'target: cpu' and 'calibration:', not {root.Describe()}");
        }

        var top = new SectionReader(rootMapping, "", _fileOnly, SpecKeys.TopLevel);
        var target = ReadChoice(top, SpecKeys.Target, Targets) ?? new(CompileTarget.Cpu, _fileOnly, IsDefault: true);
        var isCpu = target.Value == CompileTarget.Cpu;

        var (calibration, calibrationMethod) = ReadCalibration(top, rootMapping);
        var evaluation = ReadEvaluation(top, calibration);
        WarnWhenSameData(calibration, evaluation);

        var policy = ReadPolicy(top);
        var fallback = ReadChoice(top, SpecKeys.Fallback, Precisions)
            ?? new(isCpu ? FallbackPrecision.Fp32 : FallbackPrecision.Fp16, target.Location, IsDefault: true);
        var validation = ReadValidation(top, target);
        var gates = ReadGates(top);

        var spec = new QuantizationSpec(file, baseDirectory, target, calibration, evaluation, policy, fallback, validation, gates)
        {
            CalibrationMethod = calibrationMethod,
        };
        return new SpecLoadResult(spec, _warnings.ToArray());
    }

    private (TokenDataSpec Data, CalibrationMethodSpec Method) ReadCalibration(SectionReader top, YMapping root)
    {
        var section = ReadSection(top, SpecKeys.Calibration, SpecKeys.CalibrationKeys);
        if (section is null)
        {
            var key = top.KeyNode(SpecKeys.Calibration);
            throw key is not null
                ? key.Location.Error(SpecCodes.NoTokenSource,
                    "'calibration' is empty; give it 'text: path/to/calib.txt' (relative to the spec's folder) or 'generated: { tokens: 4096, seed: 1 }' for data-free calibration")
                : root.Location.Error(SpecCodes.MissingSection,
                    "the spec has no 'calibration' section; add one, e.g. 'calibration: { text: data/calib.txt }' or 'calibration: { generated: { tokens: 4096, seed: 1 } }'");
        }

        var source = ReadTokenSource(section, DefaultCalibrationSeed)
            ?? throw section.Location.Error(SpecCodes.NoTokenSource,
                "'calibration' needs its tokens: add 'text: path/to/calib.txt' (relative to the spec's folder) or 'generated: { tokens: 4096, seed: 1 }' for data-free calibration");
        var context = ReadInt(section, SpecKeys.Context, 2, " (a window needs two tokens)")
            ?? new(DefaultContext, section.Location, IsDefault: true);
        var maxTokens = ReadInt(section, SpecKeys.MaxTokens, 2, " (a window needs two tokens)")
            ?? new(DefaultMaxTokens, section.Location, IsDefault: true);
        var tokenizer = ReadFile(section, SpecKeys.Tokenizer);
        WarnWhenGeneratedAboveMax(section, source, maxTokens);
        return (new TokenDataSpec(source, tokenizer, context, maxTokens, section.Location), ReadCalibrationMethod(section));
    }

    private CalibrationMethodSpec ReadCalibrationMethod(SectionReader section)
    {
        var method = ReadChoice(section, SpecKeys.Method, RangeEstimators.Names)
            ?? new(CalibrationMethod.MinMax, section.Location, IsDefault: true);
        if (method.Value != CalibrationMethod.Percentile && section.Value(SpecKeys.Percentile) is not null)
        {
            throw section.KeyNode(SpecKeys.Percentile)!.Location.Error(SpecCodes.KeyNotValidForKind,
                $"'{section.Qualify(SpecKeys.Percentile)}' is used only by method 'percentile', not '{RangeEstimators.NameOf(method.Value)}'; remove it, or set 'method: percentile'");
        }

        const string range = "greater than 0 and at most 100 (the percentile of |x| whose range is kept)";
        var percentile = ReadNumber(section, SpecKeys.Percentile, 0, 100, range);
        if (percentile is { Value: <= 0 })
        {
            throw percentile.Location.Error(SpecCodes.OutOfRange,
                $"'{section.Qualify(SpecKeys.Percentile)}' must be {range}, not {percentile.Value.ToString(CultureInfo.InvariantCulture)}");
        }

        return new CalibrationMethodSpec(method, percentile ?? new(RangeEstimators.DefaultPercentile, method.Location, IsDefault: true));
    }

    private TokenDataSpec ReadEvaluation(SectionReader top, TokenDataSpec calibration)
    {
        var seed = calibration.Source is GeneratedSourceSpec g ? unchecked(g.Seed.Value + 1) & int.MaxValue : DefaultCalibrationSeed + 1;
        var section = ReadSection(top, SpecKeys.Evaluation, SpecKeys.TokenData);
        if (section is null)
        {
            // Data-free by default: a user who gave no evaluation data still gets a perplexity against the fp32 model.
            var where = top.KeyNode(SpecKeys.Evaluation)?.Location ?? _fileOnly;
            return new TokenDataSpec(
                new GeneratedSourceSpec(new(DefaultGeneratedTokens, where, true), new(seed, where, true), where),
                calibration.Tokenizer,
                calibration.Context with { IsDefault = true },
                calibration.MaxTokens with { IsDefault = true },
                where);
        }

        var source = ReadTokenSource(section, seed)
            ?? throw section.Location.Error(SpecCodes.NoTokenSource,
                "'evaluation' needs its tokens: add 'text: path/to/eval.txt' (held-out text, relative to the spec's folder) or 'generated: { tokens: 4096, seed: 2 }', or remove 'evaluation' to evaluate on generated tokens");
        var context = ReadInt(section, SpecKeys.Context, 2, " (a window needs two tokens)")
            ?? calibration.Context with { IsDefault = true };
        var maxTokens = ReadInt(section, SpecKeys.MaxTokens, 2, " (a window needs two tokens)")
            ?? calibration.MaxTokens with { IsDefault = true };
        var tokenizer = ReadFile(section, SpecKeys.Tokenizer) ?? calibration.Tokenizer;
        WarnWhenGeneratedAboveMax(section, source, maxTokens);
        return new TokenDataSpec(source, tokenizer, context, maxTokens, section.Location);
    }

    private TokenSourceSpec? ReadTokenSource(SectionReader section, int defaultSeed)
    {
        // Presence counts here, not the value: 'generated:' with nothing means "generated, with defaults".
        var textKey = section.KeyNode(SpecKeys.Text);
        var generatedKey = section.KeyNode(SpecKeys.Generated);
        if (textKey is not null && generatedKey is not null)
        {
            var (first, second) = textKey.Location.Line <= generatedKey.Location.Line ? (textKey, generatedKey) : (generatedKey, textKey);
            throw second.Location.Error(SpecCodes.BothTextAndGenerated,
                $"'{section.Path}' has both 'text' and 'generated' (first at line {first.Location.Line}); keep one: text for real data, generated for data-free");
        }

        if (textKey is not null)
        {
            var node = section.Value(SpecKeys.Text)
                ?? throw textKey.Location.Error(SpecCodes.WrongType,
                    $"'{section.Qualify(SpecKeys.Text)}' is empty; give the path of a text file, relative to the spec's folder");
            return new TextSourceSpec(ResolveFile(section, SpecKeys.Text, node));
        }

        if (generatedKey is null)
        {
            return null;
        }

        var generated = ReadSection(section, SpecKeys.Generated, SpecKeys.GeneratedKeys);
        var where = generatedKey.Location;
        var tokens = (generated is null ? null : ReadInt(generated, SpecKeys.Tokens, 2, " (a window needs two tokens)"))
            ?? new(DefaultGeneratedTokens, where, IsDefault: true);
        var seed = (generated is null ? null : ReadInt(generated, SpecKeys.Seed, 0, ""))
            ?? new(defaultSeed, where, IsDefault: true);
        return new GeneratedSourceSpec(tokens, seed, where);
    }

    private PolicySpec ReadPolicy(SectionReader top)
    {
        var section = ReadSection(top, SpecKeys.Policy, PolicyKinds.AllKeys);
        var policyLocation = top.KeyNode(SpecKeys.Policy)?.Location ?? _fileOnly;
        var kindNames = PolicyKinds.Names.Select(n => (n, n)).ToArray();
        var kind = (section is null ? null : ReadChoice(section, SpecKeys.Kind, kindNames))
            ?? new(AllInt8PolicySpec.KindName, policyLocation, IsDefault: true);
        var definition = PolicyKinds.All.First(k => k.Name == kind.Value);

        if (section is not null)
        {
            foreach (var key in section.PresentKeys)
            {
                if (!PolicyKinds.CommonKeys.Contains(key.Value) && !definition.Keys.Contains(key.Value))
                {
                    var users = PolicyKinds.All.Where(k => k.Keys.Contains(key.Value)).Select(k => k.Name).ToArray();
                    throw key.Location.Error(SpecCodes.KeyNotValidForKind,
                        $"'policy.{key.Value}' is not used by policy kind '{kind.Value}'; remove it, or set 'kind: {users[0]}' (kinds that use it: {string.Join(", ", users)})");
                }
            }
        }

        var exclude = ReadGlobList(section, SpecKeys.Exclude) ?? [];
        return definition.Read(new PolicyReadContext(this, section, exclude, kind.Location)) with
        {
            ForceInt8 = ReadGlobList(section, SpecKeys.ForceInt8) ?? [],
            ExcludeRoles = ReadRoleList(section, SpecKeys.ExcludeRoles) ?? [],
        };
    }

    private ValidationSpec ReadValidation(SectionReader top, SpecValue<CompileTarget> target)
    {
        var section = ReadSection(top, SpecKeys.Validation, SpecKeys.ValidationKeys);
        var where = section?.Location ?? target.Location;
        var isCpu = target.Value == CompileTarget.Cpu;
        var defaultProviders = isCpu ? [ExecutionProviderKind.Cpu] : new[] { ExecutionProviderKind.Cuda, ExecutionProviderKind.Cpu };
        var defaultRequire = isCpu ? [ExecutionProviderKind.Cpu] : Array.Empty<ExecutionProviderKind>();

        var providers = ReadProviderList(section, SpecKeys.Providers)
            ?? defaultProviders.Select(p => new SpecValue<ExecutionProviderKind>(p, where, IsDefault: true)).ToArray();
        if (providers.Count == 0)
        {
            throw section!.Value(SpecKeys.Providers)!.Location.Error(SpecCodes.OutOfRange,
                "'validation.providers' is empty; list at least one execution provider to validate on, e.g. [cpu] or [cuda, cpu]");
        }

        var listed = providers.Select(p => p.Value).ToHashSet();
        var require = ReadProviderList(section, SpecKeys.Require)
            ?? defaultRequire.Where(listed.Contains).Select(p => new SpecValue<ExecutionProviderKind>(p, where, IsDefault: true)).ToArray();
        foreach (var required in require)
        {
            if (!listed.Contains(required.Value))
            {
                var name = Providers.First(p => p.Value == required.Value).Name;
                throw required.Location.Error(SpecCodes.RequiredProviderNotListed,
                    $"'{name}' is required but not in validation.providers [{string.Join(", ", providers.Select(p => Providers.First(n => n.Value == p.Value).Name))}]; add it to providers or remove it from require");
            }
        }

        return new ValidationSpec(providers, require, section?.Location ?? _fileOnly);
    }

    private GatesSpec ReadGates(SectionReader top)
    {
        var section = ReadSection(top, SpecKeys.Gates, SpecKeys.GateKeys);
        if (section is null)
        {
            return new GatesSpec(null, null, null, top.KeyNode(SpecKeys.Gates)?.Location ?? _fileOnly);
        }

        var gates = new GatesSpec(
            ReadNumber(section, SpecKeys.MaxPerplexityIncreasePct, 0, double.PositiveInfinity, "at least 0 (a percentage of the fp32 model's perplexity)"),
            ReadNumber(section, SpecKeys.MaxPerplexity, 1, double.PositiveInfinity, "at least 1 (perplexity is never below 1)"),
            ReadNumber(section, SpecKeys.MinInt8Fraction, 0, 1, "between 0 and 1 (a fraction of the quantizable layers)"),
            section.Location);
        return ReadChoice(section, SpecKeys.OnFail, OnFailChoices) is { } onFail ? gates with { OnFail = onFail } : gates;
    }

    private void WarnWhenSameData(TokenDataSpec calibration, TokenDataSpec evaluation)
    {
        if (calibration.Source is TextSourceSpec c && evaluation.Source is TextSourceSpec e)
        {
            var comparison = OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
            var same = string.Equals(c.Text.FullPath, e.Text.FullPath, comparison)
                ? "is the calibration text"
                : checkFiles && SameContent(c.Text.FullPath, e.Text.FullPath) ? "has the same content as the calibration text" : null;
            if (same is not null)
            {
                _warnings.Add(new SpecDiagnostic(SpecCodes.SameCalibrationAndEvaluationText,
                    $"evaluation text '{e.Text.AsWritten}' {same} (line {c.Text.Location.Line}); perplexity measured on calibration data flatters the quantized model: evaluate on held-out text",
                    e.Text.Location));
            }
        }
        else if (calibration.Source is GeneratedSourceSpec cg && evaluation.Source is GeneratedSourceSpec eg && cg.Seed.Value == eg.Seed.Value)
        {
            _warnings.Add(new SpecDiagnostic(SpecCodes.SameGeneratedSeed,
                $"evaluation generates tokens with the calibration seed {eg.Seed.Value}, so it evaluates on the calibration tokens; give evaluation another seed",
                eg.Seed.Location));
        }
    }

    private void WarnWhenGeneratedAboveMax(SectionReader section, TokenSourceSpec source, SpecValue<int> maxTokens)
    {
        if (source is GeneratedSourceSpec g && g.Tokens.Value > maxTokens.Value)
        {
            _warnings.Add(new SpecDiagnostic(SpecCodes.GeneratedTokensAboveMax,
                $"'{section.Qualify(SpecKeys.Generated)}.tokens' is {g.Tokens.Value} but '{section.Qualify(SpecKeys.MaxTokens)}' is {maxTokens.Value}, so only {maxTokens.Value} tokens are used; lower tokens or raise max_tokens",
                g.Tokens.Location));
        }
    }

    private static bool SameContent(string a, string b)
    {
        var infoA = new FileInfo(a);
        var infoB = new FileInfo(b);
        if (!infoA.Exists || !infoB.Exists || infoA.Length != infoB.Length)
        {
            return false;
        }

        // Chunked, so that a large corpus is never held in memory twice.
        using var streamA = infoA.OpenRead();
        using var streamB = infoB.OpenRead();
        var bufferA = new byte[81920];
        var bufferB = new byte[81920];
        int read;
        while ((read = streamA.ReadAtLeast(bufferA, bufferA.Length, throwOnEndOfStream: false)) > 0)
        {
            if (streamB.ReadAtLeast(bufferB.AsSpan(0, read), read, throwOnEndOfStream: false) != read ||
                !bufferA.AsSpan(0, read).SequenceEqual(bufferB.AsSpan(0, read)))
            {
                return false;
            }
        }

        return true;
    }

    // ---- typed reads: each returns null when the key is absent or null ----

    /// <summary>A nested section, or null when absent or null; an error when it is not a mapping.</summary>
    internal SectionReader? ReadSection(SectionReader parent, string key, IReadOnlyList<string> validKeys)
    {
        if (parent.Value(key) is not { } node)
        {
            return null;
        }

        if (node is not YMapping mapping)
        {
            throw node.Location.Error(SpecCodes.WrongType,
                $"'{parent.Qualify(key)}' must be a mapping of keys ({string.Join(", ", validKeys)}) on indented lines or in braces, not {node.Describe()}");
        }

        return new SectionReader(mapping, parent.Qualify(key), parent.KeyNode(key)!.Location, validKeys);
    }

    internal SpecValue<int>? ReadInt(SectionReader section, string key, int min, string why)
    {
        if (section.Value(key) is not { } node)
        {
            return null;
        }

        var name = section.Qualify(key);
        if (node is YScalar scalar && long.TryParse(scalar.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
        {
            if (value < min)
            {
                throw node.Location.Error(SpecCodes.OutOfRange, $"'{name}' must be at least {min}{why}, not {value}");
            }

            if (value > int.MaxValue)
            {
                throw node.Location.Error(SpecCodes.OutOfRange, $"'{name}' must be at most {int.MaxValue}, not {value}");
            }

            return new((int)value, node.Location);
        }

        throw node.Location.Error(SpecCodes.WrongType, $"'{name}' must be a whole number, not {node.Describe()}; e.g. '{key}: {Math.Max(min, 256)}'");
    }

    internal SpecValue<double>? ReadNumber(SectionReader section, string key, double min, double max, string range)
    {
        if (section.Value(key) is not { } node)
        {
            return null;
        }

        var name = section.Qualify(key);
        if (node is YScalar scalar)
        {
            var isYamlSpecial = scalar.Value.TrimStart('+', '-').ToLowerInvariant() is ".inf" or ".nan";
            if (isYamlSpecial || double.TryParse(scalar.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && !double.IsFinite(value))
            {
                throw node.Location.Error(SpecCodes.OutOfRange, $"'{name}' must be a finite number {range}, not {scalar.Value}");
            }

            if (double.TryParse(scalar.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out value))
            {
                return value < min || value > max
                    ? throw node.Location.Error(SpecCodes.OutOfRange, $"'{name}' must be {range}, not {scalar.Value}")
                    : new(value, node.Location);
            }
        }

        throw node.Location.Error(SpecCodes.WrongType, $"'{name}' must be a number, not {node.Describe()}; e.g. '{key}: 1.5'");
    }

    /// <summary>A number in [min, max], or the default at <paramref name="where"/> when the key is absent.</summary>
    internal SpecValue<double> ReadNumberOrDefault(SectionReader? section, string key, double defaultValue, double min, double max, string range, SpecLocation where) =>
        (section is null ? null : ReadNumber(section, key, min, max, range)) ?? new(defaultValue, where, IsDefault: true);

    /// <summary>A list of layer roles (q, k, v, o, gate, up, down, lm_head, qkv, fc_in, fc_out, other), or null when absent.</summary>
    internal IReadOnlyList<SpecValue<Policies.LayerRole>>? ReadRoleList(SectionReader? section, string key)
    {
        if (section is null || ReadList(section, key) is not { } items)
        {
            return null;
        }

        var names = Policies.LayerRoles.All.Select(Policies.LayerRoles.Name).ToArray();
        return items.Select(item =>
        {
            if (item is YScalar scalar && Policies.LayerRoles.TryParse(scalar.Value, out var role))
            {
                return new SpecValue<Policies.LayerRole>(role, item.Location);
            }

            var text = item is YScalar s ? s.Value : item.Describe();
            var suggestion = Suggestions.Closest(text, names);
            throw item.Location.Error(item is YScalar ? SpecCodes.UnknownValue : SpecCodes.WrongType,
                $"unknown layer role '{text}' in '{section.Qualify(key)}': expected {Suggestions.OneOf(names)}" + (suggestion is null ? "" : $"; did you mean '{suggestion}'?"));
        }).ToArray();
    }

    internal SpecValue<T>? ReadChoice<T>(SectionReader section, string key, IReadOnlyList<(string Name, T Value)> choices)
        where T : notnull
    {
        if (section.Value(key) is not { } node)
        {
            return null;
        }

        var names = choices.Select(c => c.Name).ToArray();
        var name = section.Qualify(key);
        if (node is not YScalar scalar)
        {
            throw node.Location.Error(SpecCodes.WrongType, $"'{name}' must be one of {Suggestions.OneOf(names)}, not {node.Describe()}");
        }

        foreach (var choice in choices)
        {
            if (string.Equals(choice.Name, scalar.Value, StringComparison.OrdinalIgnoreCase))
            {
                return new(choice.Value, node.Location);
            }
        }

        var suggestion = Suggestions.Closest(scalar.Value, names);
        var hint = suggestion is null ? "" : $"; did you mean '{suggestion}'?";
        throw node.Location.Error(SpecCodes.UnknownValue, $"unknown {name} '{scalar.Value}': expected {Suggestions.OneOf(names)}{hint}");
    }

    internal IReadOnlyList<SpecValue<string>>? ReadGlobList(SectionReader? section, string key)
    {
        if (section is null || ReadList(section, key) is not { } items)
        {
            return null;
        }

        return items.Select(item => item is YScalar { IsNull: false } s && s.Value.Trim().Length > 0
                ? new SpecValue<string>(s.Value, s.Location)
                : throw item.Location.Error(item is YScalar ? SpecCodes.OutOfRange : SpecCodes.WrongType,
                    $"each item of '{section.Qualify(key)}' must be a layer-name glob such as 'lm_head' or '*.down_proj', not {item.Describe()}"))
            .ToArray();
    }

    private IReadOnlyList<SpecValue<ExecutionProviderKind>>? ReadProviderList(SectionReader? section, string key)
    {
        if (section is null || ReadList(section, key) is not { } items)
        {
            return null;
        }

        var names = Providers.Select(p => p.Name).ToArray();
        var result = new List<SpecValue<ExecutionProviderKind>>();
        foreach (var item in items)
        {
            if (item is not YScalar scalar)
            {
                throw item.Location.Error(SpecCodes.WrongType,
                    $"each item of '{section.Qualify(key)}' must be a provider name ({Suggestions.OneOf(names)}), not {item.Describe()}");
            }

            var match = Providers.FirstOrDefault(p => string.Equals(p.Name, scalar.Value, StringComparison.OrdinalIgnoreCase));
            if (match.Name is null)
            {
                var suggestion = Suggestions.Closest(scalar.Value, names);
                throw item.Location.Error(SpecCodes.UnknownValue,
                    $"unknown execution provider '{scalar.Value}' in '{section.Qualify(key)}': expected {Suggestions.OneOf(names)}" +
                    (suggestion is null ? "" : $"; did you mean '{suggestion}'?"));
            }

            if (result.FirstOrDefault(r => r.Value == match.Value) is { } earlier)
            {
                throw item.Location.Error(SpecCodes.DuplicateProvider,
                    $"'{match.Name}' is listed twice in '{section.Qualify(key)}' (first at line {earlier.Location.Line}, column {earlier.Location.Column}); remove one");
            }

            result.Add(new(match.Value, item.Location));
        }

        return result;
    }

    private IReadOnlyList<YNode>? ReadList(SectionReader section, string key)
    {
        if (section.Value(key) is not { } node)
        {
            return null;
        }

        return node is YSequence sequence
            ? sequence.Items
            : throw node.Location.Error(SpecCodes.WrongType,
                $"'{section.Qualify(key)}' must be a list, e.g. [{(node is YScalar s ? s.Value : "...")}] or lines starting with '- ', not {node.Describe()}");
    }

    internal SpecFile? ReadFile(SectionReader section, string key) =>
        section.Value(key) is { } node ? ResolveFile(section, key, node) : null;

    /// <summary>
    /// Resolves a path against the spec's folder ('\' and '/' both separate folders) and, when files are checked,
    /// fails at the line that names it when the file is missing.
    /// </summary>
    private SpecFile ResolveFile(SectionReader section, string key, YNode node)
    {
        var name = section.Qualify(key);
        if (node is not YScalar scalar || scalar.Value.Trim().Length == 0)
        {
            throw node.Location.Error(SpecCodes.WrongType, $"'{name}' must be a file path relative to the spec's folder, not {node.Describe()}");
        }

        string fullPath;
        try
        {
            var normalized = scalar.Value.Replace('\\', '/').Replace('/', Path.DirectorySeparatorChar);
            fullPath = Path.GetFullPath(Path.Combine(baseDirectory, normalized));
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw node.Location.Error(SpecCodes.WrongType, $"'{name}' is not a valid path ('{scalar.Value}'): {ex.Message}", ex);
        }

        if (checkFiles)
        {
            if (Directory.Exists(fullPath))
            {
                throw node.Location.Error(SpecCodes.ReferencedFileNotFound,
                    $"'{name}' names the folder '{fullPath}', not a file; name a file in it");
            }

            if (!File.Exists(fullPath))
            {
                throw node.Location.Error(SpecCodes.ReferencedFileNotFound,
                    $"the file '{scalar.Value}' named by '{name}' does not exist (looked for '{fullPath}'; paths are relative to the spec's folder '{baseDirectory}'); fix the path or create the file");
            }
        }

        return new SpecFile(fullPath, scalar.Value, node.Location);
    }
}
