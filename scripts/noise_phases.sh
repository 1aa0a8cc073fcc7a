#!/usr/bin/env bash
# Does the data's noise schedule set the pace of an Algorithm Distillation agent? The
# quickstart's recipe (Dark Room and Dark Room Hard, the searcher, 1,000 steps of 8 windows of
# 600 steps, the `small` preset at width 128) trained on the action taken (AD) under four noise
# schedules, each evaluated on held-out goals with the controls and the exploitation delay
# (episodes from the first reward to exploiting the goal):
#   linear   the quickstart's: epsilon 1 -> 0 over the first 70% of every history
#   shorter  epsilon 1 -> 0 over the first 20% (6 of 30 episodes)
#   varied   five noise phases in turn, history by history: 90%, 70%, 50%, 30%, 10%
#   restart  two noise phases of 35% each: 1 -> 0, noise-free, then 1 -> 0 again from mid-history
# ICRL_NOISE_TARGETS=demonstrator trains the same on the searcher's own actions (DPT), the
# control: a target without the noise should not follow the schedule.
# The suites are scripts/suites/quickstart-*.json (linear: the `quickstart` preset). Every
# stage is skipped where its output exists, so a rerun resumes.
#
# Knobs (environment variables):
#   ICRL_NOISE_DIR       output folder (default: noise-phases)
#   ICRL_NOISE_VARIANTS  which schedules, space-separated (default: linear shorter varied restart)
#   ICRL_NOISE_TARGETS   training targets, space-separated: taken (AD, run `ad`) and/or
#                        demonstrator (DPT, run `dpt`) (default: taken)
#   ICRL_NOISE_THREADS   torch threads for training (default 0 = one per core)
#   ICRL_NOISE_BIN       an icrl binary to use instead of building this checkout
set -euo pipefail
source "$(dirname "$0")/setup.sh"
source "$(dirname "$0")/lib.sh"
cd "$ICRL_ROOT"

OUT="${ICRL_NOISE_DIR:-noise-phases}"
VARIANTS="${ICRL_NOISE_VARIANTS:-linear shorter varied restart}"
TARGETS="${ICRL_NOISE_TARGETS:-taken}"
THREADS="${ICRL_NOISE_THREADS:-0}"
START=$(date +%s)
compare=()

suite_of() {
    case "$1" in
        linear) echo quickstart ;;
        shorter | varied | restart) echo "scripts/suites/quickstart-$1.json" ;;
        *) echo "ICRL_NOISE_VARIANTS: unknown schedule '$1' (expected linear, shorter, varied" \
            "or restart)" >&2; return 1 ;;
    esac
}
for v in $VARIANTS; do suite_of "$v" > /dev/null; done

ICRL="$(icrl_binary "${ICRL_NOISE_BIN:-}")"

# target_name TARGET: the run's name, ad (the action taken) or dpt (the demonstrator's).
target_name() {
    case "$1" in
        taken) echo ad ;;
        demonstrator) echo dpt ;;
        *) echo "ICRL_NOISE_TARGETS: unknown target '$1' (expected taken or demonstrator)" >&2
            return 1 ;;
    esac
}
for t in $TARGETS; do target_name "$t" > /dev/null; done

for v in $VARIANTS; do
    data="$OUT/$v/data"
    [ -f "$data/manifest.json" ] || "$ICRL" datagen --suite "$(suite_of "$v")" --out "$data" --quiet
    for t in $TARGETS; do
        name="$(target_name "$t")"
        echo "== $v, $name"
        run="$OUT/$v/runs/$name"
        step=$(icrl_run_step "$run")
        if [ "${step:-0}" -lt 1000 ]; then
            if [ -f "$run/config.json" ]; then
                "$ICRL" train --resume "$run" --threads "$THREADS" --quiet
            else
                "$ICRL" train --data "$data" --preset small --model hidden=128 \
                    --model ffn_hidden=512 --model softmax_window=600 --target "$t" --steps 1000 \
                    --batch-size 8 --context 600 --lr 1e-3 --warmup-fraction 0.02 \
                    --eval-every 250 --checkpoint-every 250 --threads "$THREADS" \
                    --runs-dir "$OUT/$v/runs" --name "$name" --quiet
            fi
        fi
        eval_dir="$OUT/$v/eval-$name"
        [ -f "$eval_dir/report.json" ] || "$ICRL" eval --run "$run" --tasks heldout \
            --episodes 30 --seeds 3 --out "$eval_dir" --quiet > /dev/null
        grep -E "^\| DarkRoom(Hard)?-v0 \| heldout \| (agent|zero-reward) " "$eval_dir/summary.md" \
            || true
        compare+=(--eval "$v-$name=$eval_dir")
    done
done
"$ICRL" compare "${compare[@]}" --title "Noise schedules and the training target (held-out goals)" \
    --out "$OUT/compare" > /dev/null
echo "Finished in $(( $(date +%s) - START )) s; evaluations: $OUT/*/eval-*/summary.md;"
echo "side by side: $OUT/compare/compare.md and one figure per family"
