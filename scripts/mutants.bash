#!/usr/bin/env bash
# Mutation testing of Otter's core with mutmut: small bugs are planted one at a time in the modules
# that load and validate configs, record runs, resume and export, and the tests that cover each
# mutated function run against it. A mutant the tests fail on is "killed"; one they pass is a
# "survivor": a bug the suite would let through.
#
#   bash scripts/mutants.bash [--fresh] [--seconds N] [--jobs N] [--sample K] [--retry] [otter/MODULE.py ...]
#
# Modules: otter/<name>.py files (default: the core list below). Each module is tried with its own
# tests (tests_for below; $OTTER_MUTANT_TESTS replaces them), and mutmut runs, for each mutant,
# only the tests that call the mutated function. The work happens in copies of the working tree
# under ${OTTER_MUTANTS_DIR:-build/mutants}/<module>; results accumulate there, so a run cut short
# by --seconds (a budget for the whole run) goes on where it stopped when started again (--fresh
# starts over). The last lines printed are the share killed and every survivor;
# `cd build/mutants/<module>/tree && mutmut show NAME` shows a mutant's diff.
# --sample K tries only every K-th mutant of each module (the 1st, K+1-th, ... in mutmut's order:
# the file top down), so that a short budget covers every function of every module; later calls
# with the same K go on with the same sample. --retry tries only the survivors and the mutants
# without tests again (after tests were added); a killed mutant is never tried again.
#
# Not part of scripts/test.bash: it takes a long time (each mutant runs its covering tests).
set -euo pipefail

cd "$(dirname "$0")/.."

CORE=(otter/config.py otter/validate.py otter/schema.py otter/runinfo.py otter/checkpoint.py
      otter/resume.py otter/export.py otter/onnx_meta.py)

# The in-process tests of a module (child-process tests cannot see the mutants).
tests_for() {
    case "$1" in
        otter/config.py|otter/validate.py|otter/schema.py)
            echo tests/test_config.py tests/test_validate.py tests/test_validate_messages.py tests/test_schema.py \
                tests/test_schema_errors.py tests/test_check_config.py tests/test_config_dict.py tests/test_check_fast.py \
                tests/test_check_constructors.py tests/test_export.py ;;
        otter/runinfo.py)
            echo tests/test_runinfo.py tests/test_runinfo_records.py tests/test_resume.py tests/test_seed.py \
                tests/test_weights_loaded.py ;;
        otter/checkpoint.py)
            echo tests/test_checkpoint_io.py tests/test_checkpoint_reader.py tests/test_resume.py tests/test_export.py \
                tests/test_weights_loaded.py ;;
        otter/resume.py)
            echo tests/test_resume_parts.py tests/test_resume.py tests/test_resume_exact.py tests/test_seed.py ;;
        otter/onnx_meta.py)
            echo tests/test_onnx_meta_values.py tests/test_onnx_meta.py tests/test_export.py tests/test_parity.py ;;
        otter/export.py)
            echo tests/test_export_errors.py tests/test_export.py tests/test_parity.py tests/test_weights_loaded.py ;;
        *)
            echo tests/ ;;
    esac
}

fresh=0
seconds=0
sample=1
retry=0
jobs="$(nproc 2>/dev/null || echo 2)"
modules=()
while [ "$#" -gt 0 ]; do
    case "$1" in
        --fresh) fresh=1 ;;
        --seconds) seconds="$2"; shift ;;
        --jobs) jobs="$2"; shift ;;
        --sample) sample="$2"; shift ;;
        --retry) retry=1 ;;
        -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
if ! [[ $sample =~ ^[1-9][0-9]*$ && $seconds =~ ^[0-9]+$ && $jobs =~ ^[1-9][0-9]*$ ]]; then
    printf 'mutants.bash: --sample and --jobs take a whole number >= 1, --seconds >= 0\n' >&2
    exit 2
fi
for m in "${modules[@]}"; do
    if ! [[ $m =~ ^otter/[A-Za-z0-9_]+\.py$ && -f $m ]]; then
        printf 'mutants.bash: %s is not a module otter/NAME.py of this tree\n' "$m" >&2
        exit 2
    fi
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
mutmut_py="$py"
# One thread per test process: the children share the machine's cores.
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MPLBACKEND=Agg

base="$(pwd)"
work="${OTTER_MUTANTS_DIR:-build/mutants}"
case "$work" in /*) ;; *) work="$base/$work" ;; esac
if [ "$fresh" = 1 ]; then rm -rf "$work"; fi
deadline=0
if [ "$seconds" -gt 0 ]; then deadline=$(( $(date +%s) + seconds )); fi

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

# Writes to the file $2 the mutants of module $1 to try in this call, one per line, as `mutmut run`
# takes them: the sample's untested ones (--sample), or with --retry the survivors and those
# without tests. Run in the module's tree; generates the mutants (mutmut's own first step, which
# prints as it goes) to learn their names.
pick_mutants() {
    "$mutmut_py" - "$1" "$2" "$sample" "$retry" "$jobs" <<'PY'
import json, sys
from os import makedirs
from pathlib import Path

from mutmut.__main__ import create_mutants, store_lines_covered_by_tests
from mutmut.mutation.trampoline import set_mutant_under_test
from mutmut.utils.file_utils import copy_also_copy_files, copy_src_dir, setup_source_paths

module, out, sample, retry, jobs = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1", int(sys.argv[5])
set_mutant_under_test("mutant_generation")
makedirs("mutants", exist_ok=True)
copy_src_dir()
copy_also_copy_files()
setup_source_paths()
store_lines_covered_by_tests()
create_mutants(jobs)
codes = json.loads((Path("mutants") / (module + ".meta")).read_text())["exit_code_by_key"]
stats = Path("mutants/mutmut-stats.json")
covered = json.loads(stats.read_text())["tests_by_mangled_function_name"] if stats.is_file() else {}
picked = []
for index, (name, code) in enumerate(codes.items()):
    # None: not tried yet, 2: interrupted (the slice ended); 0 survived, 5/33 no tests,
    # 35 suspicious, -11/-9 segfault (mutmut's stats.status_by_exit_code).
    if (not retry and code in (None, 2) and index % sample == 0) or (retry and code in (0, 5, 33, 35, -11, -9)):
        # The bare name where the function's tests are known (mutmut then runs only those in its
        # clean pass); otherwise a pattern, as `mutmut run NAME` fails on a function no test is
        # known to call: the `*` stands for the one dot it replaces and matches no other mutant.
        picked.append(name if covered.get(name.partition("__mutmut_")[0]) else name.replace(".", "*", 1))
Path(out).write_text("".join(f"{name}\n" for name in picked))
PY
}

# Run mutmut on one module in its own copy of the tree; prints nothing, leaves results in $tree.
mutate() {
    local module="$1" tree="$2" status=0 left=0
    local -a tests existing=() picked=()
    read -r -a tests <<< "${OTTER_MUTANT_TESTS:-$(tests_for "$module")}"
    for t in "${tests[@]}"; do
        if [ -e "$t" ]; then existing+=("$t"); fi
    done
    mkdir -p "$tree"
    # The working tree as it is (tracked and new files, not ignored ones), times kept so that mutmut
    # regenerates only the mutants of files that changed since the last run.
    rm -rf "${tree:?}/otter" "${tree:?}/tests"
    git ls-files -co --exclude-standard -z | grep -zv '^otter/_template' \
        | tar --null -T - -cf - | tar -xpf - -C "$tree"
    # otter/_template (a link to template/, which `otter new` and the CLI's parser read) is not walked
    # by mutmut: link it into mutmut's copy of the package, where the tests run.
    mkdir -p "$tree/mutants/otter"
    ln -sfn ../../template "$tree/mutants/otter/_template"
    {
        printf '\n[tool.mutmut]\n'
        printf 'source_paths = ["otter"]\n'
        printf 'only_mutate = %s\n' "$(json_list "$module")"
        printf 'pytest_add_cli_args_test_selection = %s\n' "$(json_list "${existing[@]}")"
        printf 'pytest_add_cli_args = ["-p", "no:cacheprovider", "-m", "not gpu"]\n'
        # Fork each mutant's test run from a process that has torch imported already: seconds a mutant.
        printf 'process_isolation = "fork"\n'
    } >> "$tree/pyproject.toml"
    printf '%s: tests %s\n' "$module" "${existing[*]}"
    if [ "$sample" -gt 1 ] || [ "$retry" = 1 ]; then
        (cd "$tree" && pick_mutants "$module" picked.txt > pick.log 2>&1) || { tail -n 20 "$tree/pick.log" >&2; return 1; }
        mapfile -t picked < "$tree/picked.txt"
        printf '%s: %d mutants to try in this call\n' "$module" "${#picked[@]}"
        if [ "${#picked[@]}" -eq 0 ]; then return 0; fi
    fi
    if [ "$deadline" -gt 0 ]; then
        left=$(( deadline - $(date +%s) ))
        if [ "$left" -le 0 ]; then return 124; fi
        (cd "$tree" && timeout --signal=INT --kill-after=20 "$left" "$mutmut" run --max-children "$jobs" "${picked[@]}" > mutmut-run.log 2>&1) || status=$?
    else
        (cd "$tree" && "$mutmut" run --max-children "$jobs" "${picked[@]}" > mutmut-run.log 2>&1) || status=$?
    fi
    if [ "$status" != 0 ] && [ "$status" != 124 ] && [ "$status" != 130 ]; then
        tail -n 30 "$tree/mutmut-run.log" >&2
    fi
    return "$status"
}

overall=0
for module in "${modules[@]}"; do
    name="$(basename "$module" .py)"
    mutate "$module" "$work/$name/tree" || overall=$?
    (cd "$work/$name/tree" && [ -d mutants ] && "$mutmut" export-cicd-stats > /dev/null 2>&1) || true
done

"$py" - "$overall" "$work" "$mutmut" "${modules[@]}" <<'PY'
import json, subprocess, sys
from pathlib import Path

cut, work, mutmut, modules = sys.argv[1] != "0", Path(sys.argv[2]), sys.argv[3], sys.argv[4:]
total = {"planted": 0, "tested": 0, "killed": 0}
survivors = []
for module in modules:
    tree = work / Path(module).stem / "tree"
    stats_file = tree / "mutants" / "mutmut-cicd-stats.json"
    if not stats_file.is_file():
        print(f"{module}: not run yet")
        continue
    stats = json.loads(stats_file.read_text())
    lines = subprocess.run([mutmut, "results", "--all", "true"], cwd=tree, capture_output=True, text=True).stdout.splitlines()
    rows = [line.strip().rsplit(": ", 1) for line in lines if ": " in line]
    tested = sum(stats[k] for k in ("killed", "survived", "timeout", "suspicious", "no_tests", "segfault"))
    killed = stats["killed"] + stats["timeout"]  # a mutant that hangs the tests is caught too
    print(f"{module}: {killed}/{tested} killed ({100 * killed / max(tested, 1):.1f}%), {stats['total']} planted")
    total["planted"] += stats["total"]
    total["tested"] += tested
    total["killed"] += killed
    survivors += [(module, status, name) for name, status in rows if status in ("survived", "no tests", "suspicious", "segfault")]
t = total
print(f"TOTAL: {t['killed']}/{t['tested']} killed = {100 * t['killed'] / max(t['tested'], 1):.1f}% ({t['planted']} planted)"
      + ("; cut short: run again to go on" if cut else ""))
for module, status, name in survivors:
    print(f"  {status}: {name}")
PY
