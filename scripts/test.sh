#!/usr/bin/env bash
# The whole test suite; installs what a fresh machine lacks on first use.
set -euo pipefail
source "$(dirname "$0")/setup.sh"
cd "$ICRL_ROOT"
cargo test --workspace "$@"
