#!/usr/bin/env bash
# The main job: the quickstart pipeline. Installs what a fresh machine lacks on first use.
set -euo pipefail
source "$(dirname "$0")/setup.sh"
cd "$ICRL_ROOT"
cargo build --release -q -p experiments
ICRL="$ICRL_ROOT/target/release/icrl"
"$ICRL" doctor --bench
