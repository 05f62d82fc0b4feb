using System;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using ModelCompiler.Generator.Json;

namespace ModelCompiler.Tasks
{
    /// <summary>
    /// The one line a build prints per model after modelc ran, from the manifest modelc wrote:
    /// <c>ModelCompiler: story.onnx → INT8 30/36 layers, perplexity +0.12% (gate 1%), report obj/…/story.report.md</c>.
    /// </summary>
    internal static class BuildSummary
    {
        private const string PerplexityGate = "max_perplexity_increase_pct";

        /// <summary>The summary line, or null when the manifest is missing or not in the expected shape.</summary>
        public static string? FromManifest(string manifestPath, string modelPath, string reportPath, string? projectDirectory)
        {
            JsonObject? manifest;
            try
            {
                manifest = JsonReader.Parse(File.ReadAllText(manifestPath)) as JsonObject;
            }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException || e is JsonReaderException)
            {
                return null;
            }

            if (!(manifest?["metrics"] is JsonObject metrics))
            {
                return null;
            }

            var text = new StringBuilder("ModelCompiler: ").Append(Path.GetFileName(modelPath)).Append(" → ");
            var layers = Number(metrics["layers"]);
            var int8 = Number(metrics["int8_layers"]);
            var fp16 = Number(metrics["fp16_layers"]);
            text.Append(Invariant($"INT8 {int8:0}/{layers:0} layers"));
            if (fp16 > 0)
            {
                text.Append(Invariant($", FP16 {fp16:0}"));
            }

            var increase = Number(metrics["perplexity_increase_pct"]);
            if (!double.IsNaN(increase))
            {
                text.Append(", perplexity ").Append(SignedPercent(increase));
                var provider = (metrics["provider"] as JsonString)?.Value;
                if (!string.IsNullOrEmpty(provider) && provider != "cpu")
                {
                    text.Append(" on ").Append(provider);
                }
            }

            var gate = (manifest["gates"] as JsonArray)?.Items.OfType<JsonObject>()
                .FirstOrDefault(g => (g["name"] as JsonString)?.Value == PerplexityGate);
            if (gate != null)
            {
                text.Append(Invariant($" (gate {Number(gate["limit"]):0.###}%"));
                text.Append(gate["passed"]?.Kind == JsonKind.False ? ": missed)" : ")");
            }

            var failed = (manifest["gates"] as JsonArray)?.Items.OfType<JsonObject>()
                .Where(g => g["passed"]?.Kind == JsonKind.False && (g["name"] as JsonString)?.Value != PerplexityGate)
                .Select(g => (g["name"] as JsonString)?.Value)
                .ToList();
            if (failed != null && failed.Count > 0)
            {
                text.Append(", missed ").Append(string.Join(", ", failed));
            }

            var unavailable = (manifest["providers"] as JsonArray)?.Items.OfType<JsonObject>()
                .Where(p => (p["status"] as JsonString)?.Value == "unavailable")
                .Select(p => (p["name"] as JsonString)?.Value)
                .ToList();
            if (unavailable != null && unavailable.Count > 0)
            {
                text.Append(", ").Append(string.Join(", ", unavailable)).Append(" unavailable");
            }

            text.Append(", report ").Append(Relative(projectDirectory, reportPath));
            return text.ToString();
        }

        private static double Number(JsonNode? node) =>
            node is JsonNumber n && double.TryParse(n.Text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) ? value : double.NaN;

        // Rounded before the sign is chosen: -0.001 is "+0.00%", never "-0.00%" or "-+0.00%".
        private static string SignedPercent(double value)
        {
            var rounded = Math.Round(value, 2, MidpointRounding.AwayFromZero);
            return (rounded < 0 ? "-" : "+") + Invariant($"{Math.Abs(rounded):0.00}%");
        }

        private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

        // obj/Debug/net10.0/modelcompiler/story/story.report.md rather than the full path, when under the project.
        private static string Relative(string? directory, string path)
        {
            if (string.IsNullOrEmpty(directory))
            {
                return path;
            }

            var root = Path.GetFullPath(directory).TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar) + Path.DirectorySeparatorChar;
            var full = Path.GetFullPath(path);
            return full.StartsWith(root, StringComparison.Ordinal) ? full.Substring(root.Length) : full;
        }
    }
}
