#!/usr/bin/env bash
# The benchmark: Dark Room with ADε's split (65 train goals, 16 held-out goals never seen in
# training) and Pendulum with varied constants (20 train tasks, 5 held-out), one agent for
# both. Datasets, a longer training run than the quickstart's, and the in-context evaluation
# on held-out and train tasks (30 episodes x 3 seeds, cold start). Its figures are the ones
# in docs/results.md. Every stage resumes: rerunning skips what is finished.
#
# Knobs (environment variables): ICRL_BENCHMARK_DIR (default: benchmark),
# ICRL_BENCHMARK_STEPS (training steps, default 2000), ICRL_BENCHMARK_THREADS (torch threads
# for training, default 0 = one per core; 1 on a machine shared with other jobs).
set -euo pipefail
source "$(dirname "$0")/setup.sh"
cd "$ICRL_ROOT"

OUT="${ICRL_BENCHMARK_DIR:-benchmark}"
STEPS="${ICRL_BENCHMARK_STEPS:-2000}"
THREADS="${ICRL_BENCHMARK_THREADS:-0}"
START=$(date +%s)

echo "== building icrl (release)"
cargo build --release -q -p experiments
ICRL="${CARGO_TARGET_DIR:-$ICRL_ROOT/target}/release/icrl"
mkdir -p "$OUT/report"
"$ICRL" doctor

echo "== 1/3 datasets: Dark Room (65 train goals x 40 histories x 30 episodes), Pendulum (20 train"
echo "   tasks x 10 histories x 30 episodes, PPO demonstrators), held-out Pendulum references"
"$ICRL" datagen --suite benchmark --out "$OUT/data" --quiet
"$ICRL" datagen --suite heldout-reference --out "$OUT/reference" --quiet
"$ICRL" dataset plot "$OUT/data" --out "$OUT/report/datasets.png"

# Pendulum trains on whole histories (30 episodes, 6000 steps), as long as its evaluation, so
# every window starts where its history starts (epsilon 1), as evaluation does; Dark Room's histories are 600 steps, its
# windows too. A micro-batch: 40 Dark Room windows or 4 Pendulum histories, 24,000 steps.
echo "== 2/3 training ($STEPS steps: 40 x 600 Dark Room steps or 4 x 6000 Pendulum steps)"
RUN="$OUT/runs/benchmark"
if [ -f "$RUN/config.json" ]; then
    "$ICRL" train --resume "$RUN" --threads "$THREADS"
else
    "$ICRL" train --data "$OUT/data" --preset small --model hidden=128 --model ffn_hidden=512 \
        --model softmax_window=600 --obs-norm family --steps "$STEPS" --batch-size 40 \
        --context 600 --group-context obs3-box1=6000 --lr 1e-3 --warmup-fraction 0.02 \
        --eval-every 250 --checkpoint-every 250 --threads "$THREADS" --runs-dir "$OUT/runs" \
        --name benchmark
fi
cp "$RUN/curves.png" "$OUT/report/training.png"

echo "== 3/3 in-context evaluation (30 episodes x 3 seeds)"
for SET in heldout train; do
    "$ICRL" eval --run "$RUN" --tasks "$SET" --episodes 30 --seeds 3 \
        --reference "$OUT/reference" --out "$OUT/report/eval-$SET" > "$OUT/report/eval-$SET.log"
    cat "$OUT/report/eval-$SET/summary.md"
done
echo "Finished in $(( $(date +%s) - START )) s; report: $OUT/report"
