#!/usr/bin/env bash
# The generalist benchmark's runs side by side: one `scripts/generalist.sh` instance per run
# (a comparison run, a specialist, the generalist), all started at once after the data stage,
# so that one GPU trains them together while the CPU cores evaluate each run as it finishes.
# Every instance resumes where it stopped, like the script itself: rerun with the same knobs
# after an interruption or a deadline.
#
# Measured on one H200 with 16 cores (2026-11-30): 14 runs at once kept the GPU 99% busy at
# about 20 training steps per second in all (each step about 24,000 tokens), so the whole
# benchmark (19,500 steps) needs about 16 minutes of training; the evaluations need about
# 150 core-minutes more.
#
# Knobs: every ICRL_GENERALIST_* knob of generalist.sh (ICRL_GENERALIST_BIN, _DIR, _STEPS,
# _COMPARE_STEPS, _THREADS (default here 1), _EVAL_DEVICE (default here cpu), _EVAL_JOBS, ...),
# and
#   ICRL_GENERALIST_RUNS      the runs, space-separated: `variant:NAME` (base, ad, dpt, remoe,
#                             lightning), `specialist:FAMILY`, `generalist` (default: every
#                             variant, every specialist and the generalist)
#   ICRL_GENERALIST_DEADLINE  seconds after which the instances still running are stopped
#                             (default: none). Training resumes from the last checkpoint
#                             (every 100 steps); an evaluation stopped part-way starts again
# Each instance's output goes to DIR/logs/RUN.txt; every 30 s one line shows each run's last
# checkpointed step and the finished evaluations.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

export ICRL_GENERALIST_THREADS="${ICRL_GENERALIST_THREADS:-1}"
export ICRL_GENERALIST_EVAL_DEVICE="${ICRL_GENERALIST_EVAL_DEVICE:-cpu}"
DIR="${ICRL_GENERALIST_DIR:-generalist}"
export ICRL_GENERALIST_DIR="$DIR"
FAMILIES="${ICRL_GENERALIST_FAMILIES[*]}"
VARIANT_NAMES="${ICRL_GENERALIST_VARIANT_NAMES[*]}"
default_runs() {
    local v f
    for v in $VARIANT_NAMES; do printf 'variant:%s ' "$v"; done
    for f in $FAMILIES; do printf 'specialist:%s ' "$f"; done
    echo generalist
}
RUNS="${ICRL_GENERALIST_RUNS:-$(default_runs)}"
DEADLINE="${ICRL_GENERALIST_DEADLINE:-}"
[ -z "$DEADLINE" ] || [[ "$DEADLINE" =~ ^[1-9][0-9]*$ ]] || {
    echo "ICRL_GENERALIST_DEADLINE: expected whole seconds >= 1, got '$DEADLINE'" >&2
    exit 1
}
# Check every run's name before anything starts: known, and each once (two instances of one
# run would write the same folder).
declare -A SEEN=()
for run in $RUNS; do
    [ -z "${SEEN[$run]:-}" ] || {
        echo "ICRL_GENERALIST_RUNS: '$run' is listed twice" >&2
        exit 1
    }
    SEEN[$run]=1
    case "$run" in
        generalist) ;;
        variant:*)
            [[ " $VARIANT_NAMES " == *" ${run#variant:} "* ]] || {
                echo "ICRL_GENERALIST_RUNS: unknown variant in '$run' (expected one of $VARIANT_NAMES)" >&2
                exit 1
            } ;;
        specialist:*)
            [[ " $FAMILIES " == *" ${run#specialist:} "* ]] || {
                echo "ICRL_GENERALIST_RUNS: unknown family in '$run' (expected one of $FAMILIES)" >&2
                exit 1
            } ;;
        *) echo "ICRL_GENERALIST_RUNS: unknown run '$run' (expected variant:NAME," \
               "specialist:FAMILY or generalist)" >&2; exit 1 ;;
    esac
done

START=$(date +%s)
elapsed() { echo $(( $(date +%s) - START )); }
echo "== data"
ICRL_GENERALIST_STAGES=data bash scripts/generalist.sh || exit 1
mkdir -p "$DIR/logs"

# start RUN: one instance in its own process group (so that a deadline stops its children).
declare -A PIDS=()
start() {
    local run="$1" log="$DIR/logs/${1//:/-}.txt"
    case "$run" in
        variant:*) ICRL_GENERALIST_STAGES=variants ICRL_GENERALIST_VARIANTS="${run#variant:}" \
            setsid bash scripts/generalist.sh > "$log" 2>&1 & ;;
        specialist:*) ICRL_GENERALIST_STAGES=specialists \
            ICRL_GENERALIST_SPECIALISTS="${run#specialist:}" \
            setsid bash scripts/generalist.sh > "$log" 2>&1 & ;;
        generalist) ICRL_GENERALIST_STAGES="generalist eval" \
            setsid bash scripts/generalist.sh > "$log" 2>&1 & ;;
    esac
    PIDS[$run]=$!
}
for run in $RUNS; do start "$run"; done
echo "== $(elapsed) s: started ${#PIDS[@]} runs ($RUNS); logs in $DIR/logs"

# The step of each run's last checkpoint, as "name:step".
steps() {
    local r
    for r in "$DIR"/runs/*/; do
        [ -f "$r/checkpoint/state.json" ] || continue
        printf '%s:%s ' "$(basename "$r")" "$(icrl_run_step "$r")"
    done
}
while :; do
    alive=0
    for run in "${!PIDS[@]}"; do kill -0 "${PIDS[$run]}" 2>/dev/null && alive=$((alive + 1)); done
    [ "$alive" -eq 0 ] && break
    if [ -n "$DEADLINE" ] && [ "$(elapsed)" -ge "$DEADLINE" ]; then
        echo "== $(elapsed) s: deadline; stopping the $alive runs still going (rerun to resume)"
        for run in "${!PIDS[@]}"; do kill -- -"${PIDS[$run]}" 2>/dev/null; done
        break
    fi
    sleep 30
    echo "   $(elapsed) s: $alive running; evaluations $(find "$DIR/eval" -name report.json 2>/dev/null | wc -l); $(steps)"
done
FAILED=0
for run in $RUNS; do
    wait "${PIDS[$run]}"
    rc=$?
    case "$rc" in
        0) ;;
        143) echo "   $run: stopped at the deadline" ;;
        *) echo "   $run: failed (exit $rc; see $DIR/logs/${run//:/-}.txt)"; FAILED=1 ;;
    esac
done
echo "Finished in $(elapsed) s; $(find "$DIR/eval" -name report.json 2>/dev/null | wc -l) evaluations in $DIR/eval"
exit "$FAILED"
