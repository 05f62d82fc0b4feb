namespace ModelCompiler.Tasks
{
    /// <summary>
    /// Errors the MSBuild side reports itself (MC1200-MC1299), before or around running modelc.
    /// modelc reports its own MC1xxx-MC3xxx; the generator MC4xxx.
    /// </summary>
    internal static class TaskCodes
    {
        /// <summary>A QuantizedModel item has no Spec metadata.</summary>
        public const string MissingSpecMetadata = "MC1201";

        /// <summary>The file named by the Spec metadata does not exist.</summary>
        public const string SpecNotFound = "MC1202";

        /// <summary>The model file of a QuantizedModel item does not exist.</summary>
        public const string ModelNotFound = "MC1203";

        /// <summary>modelc (ModelCompiler_CliPath) does not exist.</summary>
        public const string CliNotFound = "MC1204";

        /// <summary>modelc is a .dll but no dotnet host was found to run it.</summary>
        public const string DotNetHostNotFound = "MC1205";

        /// <summary>modelc failed without printing an error of its own (a crash, an unknown exit code).</summary>
        public const string CliFailedSilently = "MC1206";

        /// <summary>ModelCompiler_OrtNativePath names a file that does not exist.</summary>
        public const string OrtNativeNotFound = "MC1207";

        /// <summary>The Access metadata is neither public nor internal.</summary>
        public const string InvalidAccess = "MC1208";

        /// <summary>Two QuantizedModel items name the same model file.</summary>
        public const string DuplicateModel = "MC1209";

        /// <summary>An argument holds a double quote, which modelc's response file cannot carry.</summary>
        public const string UnquotableArgument = "MC1210";

        /// <summary>The ClassName metadata is not a C# identifier.</summary>
        public const string InvalidClassName = "MC1211";

        /// <summary>The TargetDirectory metadata is absolute or climbs out of the output folder.</summary>
        public const string TargetDirectoryEscapes = "MC1212";

        /// <summary>The report could not be appended to ModelCompiler_SummaryFile (a warning).</summary>
        public const string SummaryFileNotWritten = "MC1220";
    }
}
