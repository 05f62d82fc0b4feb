using System;
using System.IO;
using System.Security.Cryptography;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using ModelCompiler.Generator.Json;

namespace ModelCompiler.Tasks
{
    /// <summary>
    /// The manifest is the commit record of a compile: modelc renames it into place last, after the model it describes.
    /// A manifest whose model sha256 does not match the model beside it (the model replaced or removed afterwards, or a
    /// set assembled by hand) is therefore "not built": it is deleted with the stamp, so the generator emits no wrapper
    /// for a mismatched pair and the next build runs modelc again. The model is hashed only when it or the manifest is
    /// newer than the stamp (or there is no stamp), so an up-to-date build reads no model.
    /// </summary>
    internal static class ManifestRecord
    {
        /// <summary>Deletes the manifest and stamp of <paramref name="item"/> when the manifest does not describe its model.</summary>
        public static void DropIfStale(ITaskItem item, TaskLoggingHelper log)
        {
            var manifest = item.GetMetadata("Manifest");
            var stamp = item.GetMetadata("StampFile");
            if (!File.Exists(manifest))
            {
                return;
            }

            var model = item.GetMetadata("OutputModel");
            if (File.Exists(model) && File.Exists(stamp)
                && File.GetLastWriteTimeUtc(model) <= File.GetLastWriteTimeUtc(stamp)
                && File.GetLastWriteTimeUtc(manifest) <= File.GetLastWriteTimeUtc(stamp))
            {
                return;
            }

            var problem = Mismatch(manifest, model);
            if (problem == null)
            {
                return;
            }

            log.LogMessage(MessageImportance.High, "ModelCompiler: {0} {1}; it is not built, modelc runs again.", manifest, problem);
            TryDelete(stamp);
            TryDelete(manifest);
        }

        /// <summary>Why <paramref name="manifest"/> does not describe <paramref name="model"/>, or null when it does.</summary>
        internal static string? Mismatch(string manifest, string model)
        {
            string? recorded;
            try
            {
                recorded = ((JsonReader.Parse(File.ReadAllText(manifest)) as JsonObject)?["model"] as JsonObject)?["sha256"] is JsonString s ? s.Value : null;
            }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException || e is JsonReaderException)
            {
                return "cannot be read (" + e.Message + ")";
            }

            if (recorded == null)
            {
                return "records no model sha256";
            }

            if (!File.Exists(model))
            {
                return "describes " + Path.GetFileName(model) + ", which is missing";
            }

            string actual;
            try
            {
                using (var stream = File.OpenRead(model))
                using (var sha = SHA256.Create())
                {
                    actual = BitConverter.ToString(sha.ComputeHash(stream)).Replace("-", "").ToLowerInvariant();
                }
            }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException)
            {
                return "describes a model that cannot be read (" + e.Message + ")";
            }

            return string.Equals(actual, recorded, StringComparison.OrdinalIgnoreCase)
                ? null
                : "records sha256 " + recorded + " but " + Path.GetFileName(model) + " has " + actual;
        }

        private static void TryDelete(string path)
        {
            try
            {
                if (File.Exists(path))
                {
                    File.Delete(path);
                }
            }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException)
            {
            }
        }
    }
}
