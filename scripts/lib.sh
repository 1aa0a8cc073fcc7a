# Small shell helpers the scripts share. Sourced, never run on its own; it installs and
# builds nothing, so a machine without the Rust toolchain (a GPU machine running a bundled
# binary) can source it too.

# icrl_run_step RUN: the step of a training run's last checkpoint; empty when it has none.
icrl_run_step() {
    [ -f "$1/checkpoint/state.json" ] || return 0
    sed -n 's/.*"step": *\([0-9]*\).*/\1/p' "$1/checkpoint/state.json" | head -n 1
}

# The generalist benchmark's families and comparison runs, for scripts/generalist.sh and
# scripts/generalist_parallel.sh (which starts one generalist.sh per run).
ICRL_GENERALIST_FAMILIES=(DarkRoom-v0 DarkRoomHard-v0 KeyToDoor-v0 CartPole-v1 Pendulum-v1
                          MountainCarContinuous-v0 Acrobot-v1 IndustrialBenchmark-v0)
ICRL_GENERALIST_VARIANT_NAMES=(base ad dpt remoe lightning)
