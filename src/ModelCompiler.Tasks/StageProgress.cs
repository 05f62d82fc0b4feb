using System;
using System.Diagnostics;
using System.Text.RegularExpressions;

namespace ModelCompiler.Tasks
{
    /// <summary>
    /// Which of modelc's stage lines (<c>[calibrate] 36 layers, 8192 tokens</c>, <c>[validate cpu] window 3/8, …</c>)
    /// the build shows: none in the first seconds (a quick run stays quiet), then at most one every few seconds.
    /// </summary>
    internal sealed class StageProgress
    {
        private static readonly Regex StageLine = new Regex(@"^\[[A-Za-z0-9:._ -]+\] ", RegexOptions.CultureInvariant);

        private readonly Stopwatch _clock;
        private readonly TimeSpan _quiet;
        private readonly TimeSpan _interval;
        private TimeSpan? _lastShown;

        public StageProgress(TimeSpan? quiet = null, TimeSpan? interval = null, Stopwatch? clock = null)
        {
            _quiet = quiet ?? TimeSpan.FromSeconds(3);
            _interval = interval ?? TimeSpan.FromSeconds(5);
            _clock = clock ?? Stopwatch.StartNew();
        }

        public static bool IsStageLine(string line) => StageLine.IsMatch(line);

        /// <summary>Whether to show <paramref name="line"/> now (thread-safe: stdout and stderr are read apart).</summary>
        public bool ShouldShow(string line)
        {
            if (!IsStageLine(line))
            {
                return false;
            }

            lock (_clock)
            {
                var now = _clock.Elapsed;
                if (now < _quiet || (_lastShown is TimeSpan last && now - last < _interval))
                {
                    return false;
                }

                _lastShown = now;
                return true;
            }
        }
    }
}
