#!/usr/bin/env bash
# Checks the formatting, builds DetSharp and runs every test project; ends with one summary line
# "Tests: N passed, N failed, N skipped".
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

bash tools/install-deps.sh || exit 1

# Formatting and code style as .editorconfig states them (whitespace, using order, the rules marked `warning`), before
# the slow part; about a minute on 2 cores. The build itself enforces the analyzers (Directory.Build.props).
echo "Checking formatting: dotnet format DetSharp.slnx --verify-no-changes"
format_start=$SECONDS
if ! dotnet format DetSharp.slnx --verify-no-changes; then
  echo "Formatting differs from .editorconfig (files above). Fix it with: dotnet format DetSharp.slnx" >&2
  exit 1
fi
echo "Formatting checked in $((SECONDS - format_start)) s"

# DetSharp.Tests runs each test inside a FinalizerGate region (tests/DetSharp.Tests/TestSupport/
# FinalizerGatedTestsAttribute.cs), so the finalizer thread cannot free an implicit TorchSharp Scalar that a native call
# of test code is reading (the rare "toFloat ... Expected false to be true" abort; see src/DetSharp/Utils/FinalizerGate.cs).
# A 256 MiB gen-0 budget makes collections, and so the moments the gate must let the finalizers through, rarer (19
# instead of 153 gen-0 collections for 2 GB of small allocations here); the hosts have the memory for it.
export DOTNET_GCgen0size="${DOTNET_GCgen0size:-0x10000000}"

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
dotnet test DetSharp.slnx --nologo "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# vstest prints one "Passed!/Failed!  - Failed: a, Passed: b, Skipped: c, Total: d" line per test assembly.
read -r passed failed skipped < <(grep -E '^(Passed|Failed)!' "$log" | awk -F'[:,]' '
  { for (i = 1; i <= NF; i++) {
      if ($i ~ /Failed$/)  f += $(i+1);
      if ($i ~ /Passed$/)  p += $(i+1);
      if ($i ~ /Skipped$/) s += $(i+1);
  } }
  END { printf "%d %d %d\n", p, f, s }')
assemblies=$(grep -cE '^(Passed|Failed)!' "$log")
echo "Tests: ${passed} passed, ${failed} failed, ${skipped} skipped"
if [[ $status -ne 0 || $failed -ne 0 || $assemblies -lt 3 ]]; then
  echo "test run failed (dotnet test exit code $status, $assemblies test assemblies reported)" >&2
  exit 1
fi
