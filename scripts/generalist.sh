#!/usr/bin/env bash
# The generalist benchmark: one agent trained on every family with a train/held-out split
# (Dark Room, Dark Room Hard, Key-to-Door, CartPole, Pendulum, MountainCarContinuous, Acrobot,
# Industrial Benchmark), evaluated in context on the held-out tasks it never saw and on its
# own training tasks, against a specialist per family with the same budget per family, and
# with the comparisons the docs report: AD against DPT (the training target), dense against
# ReMoE (at equal active parameters), pure lightning against the 7:1 hybrid.
#
# It is long (the generalist alone is about 6 hours of compute on 2 cores), so every stage
# resumes where it stopped: rerun the script (or one stage) after an interruption, and
# finished datasets, runs, checkpoints and evaluations are kept. Stages, in order:
#   data         the `generalist` datasets (scripts/suites/generalist.json) and the held-out
#                references (scripts/suites/generalist-reference.json): PPO per task for the
#                classic-control families and the Industrial Benchmark
#   generalist   training the generalist (whole histories in context; DPT target for the grid
#                rooms, AD for the other families: see TARGETS)
#   eval         the generalist on held-out and train tasks, per family, with the controls
#   specialists  one run per family on that family's data alone, with the steps the generalist
#                spent on that family (its share of the transitions), and its evaluation on
#                held-out tasks
#   variants     the comparison runs at COMPARE_STEPS each (base, all AD, all DPT, ReMoE, pure
#                lightning), each evaluated on held-out tasks as soon as it is trained
#   report       `icrl compare` tables and one figure per family: the generalist against the
#                specialists, each comparison (target, ffn, attention), and every
#                comparison run together (comparisons)
#
# Knobs (environment variables):
#   ICRL_GENERALIST_DIR      output folder (default: generalist)
#   ICRL_GENERALIST_STAGES   stages to run, space-separated (default: all, in order)
#   ICRL_GENERALIST_STEPS    generalist training steps (default 6000)
#   ICRL_GENERALIST_COMPARE_STEPS  steps of each comparison run (default STEPS / 4)
#   ICRL_GENERALIST_VARIANTS the comparison runs of the variants stage, space-separated, each
#                            trained then evaluated (default: base ad dpt remoe lightning).
#                            Two script instances with disjoint lists and one thread each
#                            train two variants at once
#   ICRL_GENERALIST_SPECIALISTS  the families of the specialists stage, space-separated
#                            (default: all eight). Two script instances with disjoint lists
#                            and one thread each train two specialists at once
#   ICRL_GENERALIST_THREADS  torch threads for training (default 0 = one per core; 1 on a
#                            machine shared with other jobs)
#   ICRL_GENERALIST_JOBS     datagen worker threads (default: all cores)
#   ICRL_GENERALIST_SEEDS    evaluation seeds per task (default 3)
#   ICRL_GENERALIST_BIN      an icrl binary to use instead of building this checkout (a copy
#                            of target/release/icrl, so that rebuilding the tree during a
#                            run of several hours does not replace the binary under it). With
#                            a binary given the script needs no Rust toolchain: on a GPU
#                            machine, the bundle of `scripts/gpu-check.sh --bundle` with its
#                            lib/ folder and torch's on LD_LIBRARY_PATH
#   ICRL_GENERALIST_DEVICE   where torch trains (default auto: the first CUDA device when
#                            there is one, else the CPU)
#   ICRL_GENERALIST_EVAL_DEVICE  where evaluations run (default auto, as above). On a GPU
#                            machine `cpu` keeps the GPU for training: an evaluation steps
#                            its envs in lockstep, one small forward pass per step
#   ICRL_GENERALIST_EVAL_JOBS    evaluations run at once (default 1), each with
#                            ICRL_GENERALIST_THREADS torch threads; on a machine with many
#                            cores, several families' evaluations side by side
#   ICRL_GENERALIST_REWARD_ENCODER  the model's reward encoder, `leaky_relu` (default: what
#                            every run in docs/results.md had, so that a benchmark folder
#                            started then can be finished without mixing two models) or
#                            `linear` (the presets' choice since 75300f9; LeakyReLU hid
#                            Acrobot's rewards from the generalist). A run resumes with the
#                            encoder it started with, whatever this says
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ICRL="${ICRL_GENERALIST_BIN:-}"
if [ -n "$ICRL" ]; then
    ICRL_ROOT="$(cd "$(dirname "$0")/.." && pwd)"
else
    source "$(dirname "$0")/setup.sh"
fi
cd "$ICRL_ROOT"

OUT="${ICRL_GENERALIST_DIR:-generalist}"
STAGES="${ICRL_GENERALIST_STAGES:-data generalist eval specialists variants report}"
STEPS="${ICRL_GENERALIST_STEPS:-6000}"
COMPARE_STEPS="${ICRL_GENERALIST_COMPARE_STEPS:-$(( STEPS / 4 ))}"
THREADS="${ICRL_GENERALIST_THREADS:-0}"
SEEDS="${ICRL_GENERALIST_SEEDS:-3}"
DEVICE="${ICRL_GENERALIST_DEVICE:-auto}"
EVAL_DEVICE="${ICRL_GENERALIST_EVAL_DEVICE:-auto}"
EVAL_JOBS="${ICRL_GENERALIST_EVAL_JOBS:-1}"
REWARD_ENCODER="${ICRL_GENERALIST_REWARD_ENCODER:-leaky_relu}"
case "$REWARD_ENCODER" in
    linear | leaky_relu) ;;
    *) echo "ICRL_GENERALIST_REWARD_ENCODER: expected linear or leaky_relu, got" \
        "'$REWARD_ENCODER'" >&2; exit 1 ;;
esac
[[ "$EVAL_JOBS" =~ ^[1-9][0-9]*$ ]] || {
    echo "ICRL_GENERALIST_EVAL_JOBS: expected a whole number >= 1, got '$EVAL_JOBS'" >&2
    exit 1
}
JOBS=()
[ -n "${ICRL_GENERALIST_JOBS:-}" ] && JOBS=(--jobs "$ICRL_GENERALIST_JOBS")
START=$(date +%s)

# Per family: its domain group (observation and action sizes; families of one shape share
# encoders), the window its group trains on (whole learning histories of about 30 episodes,
# the suite's transitions per history) and the episodes of its in-context evaluation (about
# the episodes of one training history).
FAMILIES=("${ICRL_GENERALIST_FAMILIES[@]}")
# CartPole's histories hold about 20 episodes (the late ones last 500 steps) and
# MountainCarContinuous's about 15 (the early ones 999); the others 30 or more.
declare -A EPISODES=(
    [DarkRoom-v0]=30 [DarkRoomHard-v0]=30 [KeyToDoor-v0]=30 [CartPole-v1]=20
    [Pendulum-v1]=30 [MountainCarContinuous-v0]=15 [Acrobot-v1]=30
    [IndustrialBenchmark-v0]=30
)
# Windows: --context (600 steps, a whole Dark Room history) unless the family's domain group
# is listed here with the length of its whole histories. The three grid rooms share one group
# (a cell and 5 moves) and all write 600-step histories, so every grid window is a whole
# history: a window that started mid-history would ask the DPT target to walk to a goal found
# before the window began.
declare -A GROUP_CONTEXT=(
    [CartPole-v1]=obs4-discrete2=6000
    [Pendulum-v1]=obs3-box1=6000 [MountainCarContinuous-v0]=obs2-box1=10000
    [Acrobot-v1]=obs6-discrete3=6000 [IndustrialBenchmark-v0]=obs6-box3=7500
)
# group_context FAMILY...: the --group-context flags of those families.
group_context() {
    local f
    for f in "$@"; do
        [ -n "${GROUP_CONTEXT[$f]:-}" ] && printf -- '--group-context\0%s\0' "${GROUP_CONTEXT[$f]}"
    done
}
# The model: 8 layers at width 128, seven lightning layers to one softmax layer (MiniMax's
# 7:1; the softmax layer sees the last 600 steps), dense GELU FFNs. Each micro-batch holds
# about 24,000 steps: 40 Dark Room histories, or 4 Pendulum histories, ...
# Training targets: the demonstrator's action (DPT, Vintix II) for the grid rooms, whose
# searcher explores until rewarded and then exploits at once, so the agent learns to exploit
# in the episode after it finds a goal (AD waits for its data's noise to fade); the action
# taken (Algorithm Distillation) for the other families, whose PPO demonstrators act on the
# state alone: a DPT agent imitates them from the first step and has nothing left to learn in
# context (held-out Pendulum fell in context under DPT, 0.661 -> 0.416 at step 2,400 of the
# first generalist; it rose under AD in scripts/benchmark.sh). The variants stage compares
# this mix with all-AD and all-DPT.
GRID_GROUP=obs2-discrete5
TARGETS=(--target taken --group-target "$GRID_GROUP=demonstrator")
# target_of FAMILY: the --target of a one-family run (a specialist), as TARGETS gives it.
target_of() {
    case "$1" in
        DarkRoom-v0 | DarkRoomHard-v0 | KeyToDoor-v0) echo demonstrator ;;
        *) echo taken ;;
    esac
}
MODEL=(--preset small --model hidden=128 --model ffn_hidden=512 --model layers=8
       --model pattern=LLLLLLLS --model softmax_window=600
       --model "reward_encoder=$REWARD_ENCODER")
TRAIN=(--batch-size 40 --context 600 --lr 1e-3 --warmup-fraction 0.02 --threads "$THREADS"
       --device "$DEVICE" --runs-dir "$OUT/runs")

# The comparison runs: each is the base run (the generalist's recipe at COMPARE_STEPS) with one
# change. variant_flags NAME: that run's flags, one per line.
VARIANTS="${ICRL_GENERALIST_VARIANTS:-${ICRL_GENERALIST_VARIANT_NAMES[*]}}"
variant_flags() {
    case "$1" in
        base) printf '%s\n' "${TARGETS[@]}" ;;
        ad) printf '%s\n' --target taken ;;
        dpt) printf '%s\n' --target demonstrator ;;
        remoe) printf '%s\n' "${TARGETS[@]}" --model ffn=remoe --model experts=8 \
            --model active_experts=2 --model ffn_hidden=256 ;;
        lightning) printf '%s\n' "${TARGETS[@]}" --model pattern=L ;;
        *) echo "ICRL_GENERALIST_VARIANTS: unknown variant '$1' (expected one of" \
            "${ICRL_GENERALIST_VARIANT_NAMES[*]})" >&2; return 1 ;;
    esac
}
for v in $VARIANTS; do variant_flags "$v" > /dev/null; done

SPECIALISTS="${ICRL_GENERALIST_SPECIALISTS:-${FAMILIES[*]}}"
for f in $SPECIALISTS; do
    [[ " ${FAMILIES[*]} " == *" $f "* ]] || {
        echo "ICRL_GENERALIST_SPECIALISTS: unknown family '$f' (expected some of ${FAMILIES[*]})" >&2
        exit 1
    }
done

# Built only now, once every knob has been checked.
[ -n "$ICRL" ] || ICRL="$(icrl_binary)"
mkdir -p "$OUT/report"
"$ICRL" doctor

has_stage() { [[ " $STAGES " == *" $1 "* ]]; }

# train NAME STEPS FAMILIES [FLAGS...]: start the run on those families (space-separated),
# or resume it where it stopped. Every 500th step's model is kept in RUN/snapshots: the
# first generalist's MountainCarContinuous rose in context at steps 2,000 and 3,000 and stood
# still at 1,000, 4,000 and 6,000, with the same validation loss throughout.
train() {
    local name="$1" steps="$2" families="$3"
    shift 3
    local contexts=()
    # shellcheck disable=SC2086 # the family list splits on spaces.
    mapfile -d '' contexts < <(group_context $families)
    local run="$OUT/runs/$name"
    local done_steps
    done_steps="$(icrl_run_step "$run")"
    if [ -n "$done_steps" ] && [ "$done_steps" -ge "$steps" ]; then
        echo "   $name: finished ($steps steps)"
    elif [ -f "$run/config.json" ]; then
        "$ICRL" train --resume "$run" --threads "$THREADS" --device "$DEVICE" --quiet
    else
        "$ICRL" train --data "$OUT/data" "${MODEL[@]}" "${TRAIN[@]}" "${contexts[@]}" \
            --steps "$steps" --eval-every 250 --checkpoint-every 100 --snapshot-every 500 \
            --name "$name" --quiet "$@"
    fi
}

# Key-to-Door has 1,312 held-out (key, door) pairs: every evaluation takes the same 256,
# evenly spaced through the split (`icrl eval --max-tasks`). All 1,312 with 3 seeds, 30
# episodes and both controls would take about 45 minutes of one core (measured: 57 s for 2
# episodes and one seed at step 500).
declare -A MAX_TASKS=([KeyToDoor-v0]=256)

# evaluate RUN LABEL SET FAMILY [FLAGS...]: one family's evaluation, skipped when done. With
# EVAL_JOBS > 1 it starts in the background once fewer than EVAL_JOBS are running;
# eval_wait waits for them all and fails if any did.
EVAL_FAILED=0
evaluate() {
    local run="$1" label="$2" set="$3" family="$4"
    shift 4
    [ -n "${MAX_TASKS[$family]:-}" ] && set -- --max-tasks "${MAX_TASKS[$family]}" "$@"
    local out="$OUT/eval/$label/$set-$family"
    if [ -f "$out/report.json" ]; then
        return
    fi
    echo "   $label on $set $family (${EPISODES[$family]} episodes x $SEEDS seeds)"
    local cmd=("$ICRL" eval --run "$OUT/runs/$run" --tasks "$set" --family "$family"
        --episodes "${EPISODES[$family]}" --seeds "$SEEDS" --reference "$OUT/reference"
        --device "$EVAL_DEVICE" --threads "$THREADS" --out "$out" --quiet "$@")
    if [ "$EVAL_JOBS" -eq 1 ]; then
        "${cmd[@]}" > /dev/null
        return
    fi
    while [ "$(jobs -rp | wc -l)" -ge "$EVAL_JOBS" ]; do
        wait -n || EVAL_FAILED=1
    done
    "${cmd[@]}" > /dev/null &
}
eval_wait() {
    while [ -n "$(jobs -rp)" ]; do
        wait -n || EVAL_FAILED=1
    done
    if [ "$EVAL_FAILED" -ne 0 ]; then
        echo "an evaluation failed (its error is above)" >&2
        exit 1
    fi
}

if has_stage data; then
    echo "== data: learning histories of every family (train tasks), held-out references"
    "$ICRL" datagen --suite scripts/suites/generalist.json --out "$OUT/data" "${JOBS[@]}" --quiet
    "$ICRL" datagen --suite scripts/suites/generalist-reference.json --out "$OUT/reference" \
        "${JOBS[@]}" --quiet
    "$ICRL" dataset info "$OUT/data" > "$OUT/report/datasets.txt"
    "$ICRL" dataset plot "$OUT/data" --out "$OUT/report/datasets.png"
fi

if has_stage generalist; then
    echo "== generalist: $STEPS steps, DPT target for the grid rooms, AD for the others"
    train generalist "$STEPS" "${FAMILIES[*]}" "${TARGETS[@]}"
    cp "$OUT/runs/generalist/curves.png" "$OUT/report/generalist-training.png"
fi

# Families with a gravity parameter: their shifted tasks (gravity 10% beyond the training
# range) are evaluated too, with references from the `shifted` entries of the reference suite.
SHIFTED=(CartPole-v1 Pendulum-v1 MountainCarContinuous-v0 Acrobot-v1)

if has_stage eval; then
    echo "== eval: the generalist on held-out tasks (with controls), its training tasks and"
    echo "   shifted gravity"
    for f in "${FAMILIES[@]}"; do
        evaluate generalist generalist heldout "$f"
        evaluate generalist generalist-train train "$f" --controls none
    done
    for f in "${SHIFTED[@]}"; do
        evaluate generalist generalist-shifted shifted "$f" --controls none
    done
    eval_wait
fi

# The generalist's steps that went to FAMILY: its micro-batches are drawn by domain group in
# proportion to the group's transitions, and each holds about the same number of steps, so a
# family's share of the budget is its share of the dataset's transitions.
share_of() {
    python3 - "$OUT/data/manifest.json" "$1" "$STEPS" <<'PY'
import json, sys
manifest, family, steps = json.load(open(sys.argv[1])), sys.argv[2], int(sys.argv[3])
total = sum(t["transitions"] for t in manifest["tasks"])
mine = sum(t["transitions"] for t in manifest["tasks"] if t["family"] == family)
print(max(1, round(steps * mine / total)))
PY
}

if has_stage specialists; then
    echo "== specialists ($SPECIALISTS): one per family, with the generalist's budget for it"
    for f in $SPECIALISTS; do
        SPECIALIST_STEPS=$(share_of "$f")
        echo "   $f: $SPECIALIST_STEPS steps"
        train "specialist-$f" "$SPECIALIST_STEPS" "$f" --target "$(target_of "$f")" \
            --family "$f"
        evaluate "specialist-$f" specialist heldout "$f"
    done
    eval_wait
fi

if has_stage variants; then
    echo "== variants ($VARIANTS): $COMPARE_STEPS steps each, one change from the base run"
    for v in $VARIANTS; do
        mapfile -t flags < <(variant_flags "$v")
        train "$v" "$COMPARE_STEPS" "${FAMILIES[*]}" "${flags[@]}"
        for f in "${FAMILIES[@]}"; do
            evaluate "$v" "$v" heldout "$f"
        done
    done
    eval_wait
fi

if has_stage report; then
    echo "== report"
    # compare LABEL... : --eval flags for every finished evaluation of those labels.
    compare_args() {
        local label dir
        for label in "$@"; do
            for dir in "$OUT/eval/$label"/*/; do
                [ -f "$dir/report.json" ] && printf -- '--eval\0%s=%s\0' "$label" "${dir%/}"
            done
        done
    }
    report() {
        local name="$1" title="$2"
        shift 2
        local args=()
        mapfile -d '' args < <(compare_args "$@")
        if [ ${#args[@]} -eq 0 ]; then
            echo "   $name: no evaluation yet"
            return
        fi
        "$ICRL" compare "${args[@]}" --title "$title" --out "$OUT/report/$name" > /dev/null
        cat "$OUT/report/$name/compare.md"
        echo
    }
    report generalist "The generalist against specialists" generalist generalist-train \
        generalist-shifted specialist
    report target "The target mix against all AD and all DPT ($COMPARE_STEPS steps)" base ad dpt
    report ffn "Dense GELU against ReMoE at equal active parameters ($COMPARE_STEPS steps)" base remoe
    report attention "The 7:1 hybrid against pure lightning ($COMPARE_STEPS steps)" base lightning
    report comparisons "Every comparison run ($COMPARE_STEPS steps)" base ad dpt remoe lightning
fi
echo "Finished in $(( $(date +%s) - START )) s; report: $OUT/report"
