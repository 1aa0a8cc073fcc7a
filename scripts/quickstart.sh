#!/usr/bin/env bash
# The main job: the quickstart pipeline, end to end on CPU. Installs what a fresh machine
# lacks on first use, then: datasets (Dark Room and Dark Room Hard, learning histories of the
# searching demonstrator), training of the `small` preset on the demonstrator's actions
# (DPT's target), in-context evaluation on held-out goals with its controls, and a report
# folder. Every stage resumes: rerunning skips what is finished.
#
# Budget knobs (environment variables): ICRL_QUICKSTART_DIR (default: quickstart),
# ICRL_QUICKSTART_STEPS (training steps, default 1000), ICRL_QUICKSTART_BATCH (windows of
# 600 steps per batch, default 8), ICRL_QUICKSTART_EPISODES (default 30),
# ICRL_QUICKSTART_SEEDS (default 3), ICRL_QUICKSTART_THREADS (torch threads for training,
# default 0 = one per core; 1 on a machine shared with other jobs).
set -euo pipefail
source "$(dirname "$0")/setup.sh"
cd "$ICRL_ROOT"

OUT="${ICRL_QUICKSTART_DIR:-quickstart}"
STEPS="${ICRL_QUICKSTART_STEPS:-1000}"
BATCH="${ICRL_QUICKSTART_BATCH:-8}"
THREADS="${ICRL_QUICKSTART_THREADS:-0}"
EPISODES="${ICRL_QUICKSTART_EPISODES:-30}"
SEEDS="${ICRL_QUICKSTART_SEEDS:-3}"
START=$(date +%s)

echo "== building icrl (release)"
cargo build --release -q -p experiments
ICRL="${CARGO_TARGET_DIR:-$ICRL_ROOT/target}/release/icrl"
mkdir -p "$OUT/report"

echo "== machine"
"$ICRL" doctor

echo "== 1/4 datasets"
"$ICRL" datagen --suite quickstart --out "$OUT/data"
"$ICRL" dataset plot "$OUT/data" --out "$OUT/report/datasets.png"

echo "== 2/4 training (small preset at width 128, $STEPS steps of $BATCH x 600 steps)"
# Observations are normalised with each family's pooled statistics (the default): per-task
# statistics would tell the agent its goal (the mean position leans toward it). The target is
# the demonstrator's action (DPT); the context holds the noisy actions taken.
RUN="$OUT/runs/quickstart"
if [ -f "$RUN/config.json" ]; then
    "$ICRL" train --resume "$RUN" --threads "$THREADS"
else
    "$ICRL" train --data "$OUT/data" --preset small --model hidden=128 --model ffn_hidden=512 \
        --model softmax_window=600 --target demonstrator --steps "$STEPS" \
        --batch-size "$BATCH" --context 600 --lr 1e-3 --warmup-fraction 0.02 --eval-every 250 \
        --checkpoint-every 250 --threads "$THREADS" --runs-dir "$OUT/runs" --name quickstart
fi
cp "$RUN/curves.png" "$OUT/report/training.png"

echo "== 3/4 in-context evaluation on held-out goals ($EPISODES episodes x $SEEDS seeds, with controls)"
"$ICRL" eval --run "$RUN" --tasks heldout --episodes "$EPISODES" --seeds "$SEEDS" \
    --out "$OUT/report/eval-heldout" > "$OUT/report/eval.log"

echo "== 4/4 summary"
cat "$OUT/report/eval-heldout/summary.md"
echo
echo "The last table checks the in-context targets on held-out goals the agent never trained on:"
echo "Dark Room's first episode <= 0.4 and last 5 of 30 >= 0.8, exploitation within a median of"
echo "3 episodes of first finding the goal, and no rise with rewards zeroed in the context;"
echo "Dark Room Hard rising by >= 0.2. What this budget ($STEPS training steps on 2 cores) buys:"
echo "two grid families, one domain group, a 0.9M-parameter model. It does not buy a continuous"
echo "family: Pendulum's rise needs 20 train tasks and ~20M tokens of whole 30-episode"
echo "histories (scripts/benchmark.sh, about two hours); docs/results.md has its figures and"
echo "the quickstart's Pendulum attempts."
echo "Finished in $(( $(date +%s) - START )) s. Figures:"
echo "  $OUT/report/datasets.png         (returns along the learning histories)"
echo "  $OUT/report/training.png         (training and validation loss)"
echo "  $OUT/report/eval-heldout/curves.png (in-context return on held-out tasks)"
