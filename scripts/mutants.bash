#!/usr/bin/env bash
# Mutation testing of Otter's core with mutmut: small bugs are planted one at a time in the modules
# that load and validate configs, record runs, resume and export, and the tests that cover each
# mutated function run against it. A mutant the tests fail on is "killed"; one they pass is a
# "survivor": a bug the suite would let through.
#
#   bash scripts/mutants.bash [--fresh] [--seconds N] [--jobs N] [otter/MODULE.py ...]
#
# Modules: otter/<name>.py files (default: $CORE below). Tests: $OTTER_MUTANT_TESTS (default: the
# in-process tests of those modules, below). The work happens in a copy of the working tree under
# ${OTTER_MUTANTS_DIR:-build/mutants}; results accumulate there, so a run cut short by --seconds
# goes on where it stopped when started again (--fresh starts over). The last lines printed are the
# share killed and every survivor; `cd build/mutants/tree && mutmut show NAME` shows a mutant's diff.
#
# Not part of scripts/test.bash: it takes a long time (each mutant runs its covering tests).
set -euo pipefail

cd "$(dirname "$0")/.."

CORE=(otter/config.py otter/validate.py otter/schema.py otter/runinfo.py otter/checkpoint.py
      otter/resume.py otter/export.py otter/onnx_meta.py)
TESTS=(tests/test_config.py tests/test_validate.py tests/test_runinfo.py tests/test_resume.py
       tests/test_export.py tests/test_parity.py tests/test_weights_loaded.py tests/test_seed.py
       tests/test_build.py)

fresh=0
seconds=0
jobs="$(nproc 2>/dev/null || echo 2)"
modules=()
while [ "$#" -gt 0 ]; do
    case "$1" in
        --fresh) fresh=1 ;;
        --seconds) seconds="$2"; shift ;;
        --jobs) jobs="$2"; shift ;;
        -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) printf 'mutants.bash: unknown option %s\n' "$1" >&2; exit 2 ;;
        *) modules+=("$1") ;;
    esac
    shift
done
if [ "${#modules[@]}" -eq 0 ]; then
    for m in "${CORE[@]}"; do
        if [ -f "$m" ]; then modules+=("$m"); fi
    done
fi
for m in "${modules[@]}"; do
    if ! [[ $m =~ ^otter/[A-Za-z0-9_]+\.py$ && -f $m ]]; then
        printf 'mutants.bash: %s is not a module otter/NAME.py of this tree\n' "$m" >&2
        exit 2
    fi
done
read -r -a tests <<< "${OTTER_MUTANT_TESTS:-${TESTS[*]}}"
existing=()
for t in "${tests[@]}"; do
    if [ -f "$t" ]; then existing+=("$t"); fi
done

if [ -n "${OTTER_PY:-}" ]; then
    py="$OTTER_PY"
    export HF_HUB_OFFLINE=1 NO_ALBUMENTATIONS_UPDATE=1
else
    # shellcheck source=scripts/_venv.bash
    source scripts/_venv.bash
    otter_venv
    py="$OTTER_PY"
fi
if ! "$py" -c "import mutmut" 2>/dev/null; then
    "$py" -m pip install --quiet -e ".[mutation]"
fi
mutmut="$(dirname "$py")/mutmut"
# One thread per test process: the children share the machine's cores.
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MPLBACKEND=Agg

work="${OTTER_MUTANTS_DIR:-build/mutants}"
tree="$work/tree"
if [ "$fresh" = 1 ]; then rm -rf "$work"; fi
mkdir -p "$tree"
# The working tree as it is (tracked and new files, not ignored ones), times kept so that mutmut
# regenerates only the mutants of files that changed since the last run.
rm -rf "${tree:?}/otter" "${tree:?}/tests"
git ls-files -co --exclude-standard -z | grep -zv '^otter/_template' \
    | tar --null -T - -cf - | tar -xpf - -C "$tree"

json_list() {
    local first=1
    printf '['
    for item in "$@"; do
        if [ "$first" = 0 ]; then printf ', '; fi
        printf '"%s"' "$item"
        first=0
    done
    printf ']'
}
{
    printf '\n[tool.mutmut]\n'
    printf 'source_paths = ["otter"]\n'
    printf 'only_mutate = %s\n' "$(json_list "${modules[@]}")"
    printf 'pytest_add_cli_args_test_selection = %s\n' "$(json_list "${existing[@]}")"
    printf 'pytest_add_cli_args = ["-p", "no:cacheprovider", "-m", "not gpu"]\n'
    # Fork each mutant's test run from a process that has torch imported already: seconds saved a mutant.
    printf 'process_isolation = "fork"\n'
    printf 'mutate_only_covered_lines = false\n'
} >> "$tree/pyproject.toml"

cd "$tree"
printf 'mutants.bash: %s\n  tests: %s\n' "${modules[*]}" "${existing[*]}"
status=0
if [ "$seconds" -gt 0 ]; then
    timeout --signal=INT "$seconds" "$mutmut" run --max-children "$jobs" > mutmut-run.log 2>&1 || status=$?
else
    "$mutmut" run --max-children "$jobs" > mutmut-run.log 2>&1 || status=$?
fi
if [ "$status" != 0 ] && [ "$status" != 124 ] && [ "$status" != 130 ]; then
    tail -n 30 mutmut-run.log >&2
    exit "$status"
fi
"$mutmut" export-cicd-stats > /dev/null
"$py" - "$status" <<'PY'
import json, subprocess, sys
from pathlib import Path

stats = json.loads(Path("mutants/mutmut-cicd-stats.json").read_text())
lines = subprocess.run([str(Path(sys.executable).parent / "mutmut"), "results", "--all", "true"],
                       capture_output=True, text=True).stdout.splitlines()
rows = [line.strip().rsplit(": ", 1) for line in lines if ": " in line]
by_status = {}
for name, status in rows:
    by_status.setdefault(status, []).append(name)
done = stats["killed"] + stats["survived"] + stats["timeout"] + stats["suspicious"] + stats["no_tests"] + stats["segfault"]
killed = stats["killed"] + stats["timeout"]  # a mutant that hangs the tests is caught too
print(f"mutants: {stats['total']} planted, {done} tested" + (" (cut short: run again to go on)" if sys.argv[1] != "0" else ""))
print(f"killed: {killed}/{done} = {100 * killed / max(done, 1):.1f}%  (timeouts counted as killed: {stats['timeout']})")
for status in ("survived", "no tests", "suspicious", "segfault"):
    names = by_status.get(status, [])
    if names:
        print(f"{status} ({len(names)}):")
        for name in names:
            print(f"  {name}")
PY
