namespace ModelCompiler.Generator.Model
{
    /// <summary>One dimension of a tensor shape: a fixed size, a symbolic name, or unknown (both null).</summary>
    internal sealed record Dimension(long? Size, string? Symbol);

    /// <summary>A graph input or output as the manifest's signature states it.</summary>
    internal sealed record TensorModel(string Name, string ElementType, EquatableArray<Dimension> Shape);

    /// <summary>A graph input and the C# members generated for it in <c>Inputs</c>.</summary>
    internal sealed record InputMember(TensorModel Tensor, string PropertyName, string SetterName);

    /// <summary>A graph output and the C# members generated for it in <c>Outputs</c>.</summary>
    internal sealed record OutputMember(TensorModel Tensor, string PropertyName, string DataPropertyName, string ShapePropertyName);

    /// <summary>What generation feeds a graph input: a member name of <c>ModelCompiler.Runtime.DecoderInputKind</c>.</summary>
    internal enum GreedyInputRole
    {
        InputIds,
        AttentionMask,
        PositionIds,
        SeqlensK,
        TotalSequenceLength,
        UseCacheBranch,
        State,
    }

    /// <summary>How generation feeds one graph input (rank -1 when the signature does not say).</summary>
    internal sealed record GreedyInput(string Name, GreedyInputRole Role, string ElementType, int Rank);

    /// <summary>One recurrent state: zeros of <see cref="InitialShape"/> first, then <see cref="Output"/> of the previous step.</summary>
    internal sealed record GreedyState(string Input, string Output, string ElementType, EquatableArray<long> InitialShape, int? SequenceAxis);

    /// <summary>What generation needs beyond the signature (the decoder contract); present only when the signature fits it.</summary>
    internal sealed record GreedyPlan(
        EquatableArray<GreedyInput> Inputs,
        EquatableArray<GreedyState> States,
        string LogitsName,
        string LogitsElementType,
        EquatableArray<long> EosTokenIds);

    /// <summary>The manifest's <c>decoder</c> section.</summary>
    internal sealed record DecoderModel(
        int? NumLayers,
        int? NumKvHeads,
        int? HeadDim,
        long? VocabSize,
        long? BosTokenId,
        long? EosTokenId,
        GreedyPlan? Greedy,
        long? MaxPositions = null);

    /// <summary>One figure modelc measured (manifest <c>metrics</c>), emitted as a constant; <see cref="Literal"/> is C# source.</summary>
    internal sealed record MetricConstant(string Name, string Type, string Literal, string Summary);

    /// <summary>Everything the emitter needs for one wrapper class: names are final, escaped C# identifiers.</summary>
    internal sealed record WrapperModel(
        string ManifestFileName,
        string ModelFile,
        string Namespace,
        string ClassName,
        string HintName,
        bool IsPublic,
        string ModelPath,
        EquatableArray<InputMember> Inputs,
        EquatableArray<OutputMember> Outputs,
        DecoderModel? Decoder,
        EquatableArray<MetricConstant> Metrics,
        string? TokenizerFile = null)
    {
        /// <summary>The type's full name without escapes, for messages and duplicate checks.</summary>
        public string FullTypeName => HintName.Substring(0, HintName.Length - ".g.cs".Length);
    }

    /// <summary>The outcome of reading one manifest: a model when it is usable, and diagnostics either way.</summary>
    internal sealed record ManifestResult(string FilePath, WrapperModel? Model, EquatableArray<DiagnosticInfo> Diagnostics);

    /// <summary>A parsed manifest and the source generated for it (null when there is no model).</summary>
    internal sealed record GeneratedWrapper(ManifestResult Result, string? Source, bool NeedsRuntime);
}
