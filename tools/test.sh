#!/usr/bin/env bash
# Builds DetSharp and runs every test project; ends with one summary line "Tests: N passed, N failed, N skipped".
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

bash tools/install-deps.sh || exit 1

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
