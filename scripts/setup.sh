# Set-up shared by the README's commands; sourced, never run on its own:
#
#     source scripts/setup.sh
#
# Idempotent: the first run installs what a fresh machine lacks (Debian's libhdf5-dev and
# libgloo-dev, a project-local virtual environment with the PyPI wheel torch==2.11.0); later runs only check
# and export the build environment (a second or so). Anything it cannot fix stops the caller
# with a message naming what is missing and how to fix it.

ICRL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ICRL_VENV="${ICRL_VENV:-$ICRL_ROOT/.venv}"
ICRL_TORCH_VERSION="2.11.0"

icrl_die() {
    echo "icrl setup: $*" >&2
    exit 1
}

icrl_say() {
    echo "icrl setup: $*" >&2
}

# --- Rust ---------------------------------------------------------------------------------
command -v cargo >/dev/null 2>&1 ||
    icrl_die "cargo not found: install a Rust toolchain (https://rustup.rs) and rerun."

# --- HDF5 (hdf5-metno builds against the system library through pkg-config) -------------
icrl_have_hdf5() {
    command -v pkg-config >/dev/null 2>&1 && pkg-config --exists hdf5 2>/dev/null
}
if ! icrl_have_hdf5 && [ -z "${HDF5_DIR:-}" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        icrl_say "installing Debian's libhdf5-dev and pkg-config (first run only)"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libhdf5-dev pkg-config; } >/dev/null ||
            icrl_die "apt-get could not install libhdf5-dev: check the network to Debian's mirrors, or install HDF5 >= 1.10 yourself and set HDF5_DIR to it."
    fi
    icrl_have_hdf5 ||
        icrl_die "HDF5 not found: run 'sudo apt-get install libhdf5-dev pkg-config' (Debian/Ubuntu), or set HDF5_DIR to an HDF5 >= 1.10 install."
fi

# --- Gloo headers (agent's c10d shim for data-parallel training; the torch wheel ships none) --
if [ ! -f /usr/include/gloo/config.h ] && [ -z "${ICRL_GLOO_INCLUDE:-}" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        icrl_say "installing Debian's libgloo-dev (first run only)"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libgloo-dev; } >/dev/null ||
            icrl_die "apt-get could not install libgloo-dev: check the network to Debian's mirrors, or set ICRL_GLOO_INCLUDE to a folder holding Gloo's headers (gloo/config.h)."
    fi
    [ -f /usr/include/gloo/config.h ] ||
        icrl_die "Gloo's headers not found: run 'sudo apt-get install libgloo-dev' (Debian/Ubuntu), or set ICRL_GLOO_INCLUDE to a folder holding gloo/config.h."
fi

# --- Python and torch ------------------------------------------------------------------------
# Every install skips pip's wheel cache: the cache would keep a second copy of each wheel
# (about 3 GB for torch's) on disk for nothing.
icrl_pip() {
    "$ICRL_VENV/bin/python" -m pip install -q --disable-pip-version-check --no-cache-dir "$@"
}

# The free space of the file system holding $1 (or its nearest existing parent), as df says it.
icrl_free_disk() {
    local dir="$1"
    while [ ! -d "$dir" ] && [ "$dir" != / ]; do dir="$(dirname "$dir")"; done
    df -Ph "$dir" 2>/dev/null | awk 'NR == 2 { print $4 }'
}

# torch and its ~30 dependencies, one wheel per pip call. A single 'pip install torch' holds
# every downloaded wheel (about 3 GB) in its temporary folder beside the unpacked packages
# (about 5 GB) until the end, a peak of about 8 GB; one at a time, the peak is the unpacked
# packages plus the largest single wheel (under 1 GB). pip resolves the set first from PyPI's
# metadata files alone (--dry-run downloads no wheel); the last call checks the whole set.
icrl_install_torch() {
    local report="$ICRL_VENV/.torch-install-report.json" reqs req
    icrl_pip --dry-run --report "$report" "torch==$ICRL_TORCH_VERSION" || return 1
    reqs="$("$ICRL_VENV/bin/python" -c '
import json, sys
for item in json.load(open(sys.argv[1]))["install"]:
    print(item["metadata"]["name"] + "==" + item["metadata"]["version"])
' "$report")" || return 1
    rm -f "$report"
    for req in $reqs; do
        icrl_pip --no-deps "$req" || return 1
    done
    icrl_pip "torch==$ICRL_TORCH_VERSION"
}

icrl_torch_version() {
    # Reads the installed wheel's version file; much faster than importing torch.
    local f
    for f in "$ICRL_VENV"/lib/python3*/site-packages/torch/version.py; do
        [ -f "$f" ] || continue
        sed -n "s/^__version__ *= *['\"]\([^'\"]*\)['\"].*/\1/p" "$f"
        return
    done
}

if [ ! -x "$ICRL_VENV/bin/python" ]; then
    command -v python3 >/dev/null 2>&1 ||
        icrl_die "python3 not found: install Python >= 3.10 (e.g. 'apt-get install python3 python3-venv') and rerun; it is needed for the torch==$ICRL_TORCH_VERSION wheel that provides libtorch."
    icrl_say "creating the virtual environment $ICRL_VENV"
    python3 -m venv "$ICRL_VENV" ||
        icrl_die "'python3 -m venv $ICRL_VENV' failed: install the venv module (e.g. 'apt-get install python3-venv') and rerun."
fi

installed_torch="$(icrl_torch_version)"
if [ -z "$installed_torch" ]; then
    icrl_say "installing torch==$ICRL_TORCH_VERSION into $ICRL_VENV (first run only; about 5 GB with its CUDA libraries, one wheel at a time)"
    icrl_install_torch ||
        icrl_die "pip could not install torch==$ICRL_TORCH_VERSION: check that PyPI is reachable (proxy, network) and that there is about 6 GB free disk ($(icrl_free_disk "$ICRL_VENV") free now), then rerun."
    installed_torch="$(icrl_torch_version)"
fi
case "$installed_torch" in
    "$ICRL_TORCH_VERSION" | "$ICRL_TORCH_VERSION"+*) ;;
    *)
        icrl_die "$ICRL_VENV has torch ${installed_torch:-(unreadable)}, but tch 0.24 needs exactly torch $ICRL_TORCH_VERSION: run '$ICRL_VENV/bin/python -m pip install torch==$ICRL_TORCH_VERSION' or delete $ICRL_VENV and rerun."
        ;;
esac

# h5py: the format's documentation shows (and a test runs) a Python reader.
if ! compgen -G "$ICRL_VENV/lib/python3*/site-packages/h5py" >/dev/null; then
    icrl_say "installing h5py into $ICRL_VENV (first run only)"
    icrl_pip h5py ||
        icrl_die "pip could not install h5py: check that PyPI is reachable, then rerun."
fi

# tensorboard: a test reads the trainer's and eval's event files with its EventAccumulator.
ICRL_TENSORBOARD_VERSION="2.21.0"
if ! compgen -G "$ICRL_VENV/lib/python3*/site-packages/tensorboard-$ICRL_TENSORBOARD_VERSION.dist-info" >/dev/null; then
    icrl_say "installing tensorboard==$ICRL_TENSORBOARD_VERSION into $ICRL_VENV (first run only)"
    icrl_pip "tensorboard==$ICRL_TENSORBOARD_VERSION" ||
        icrl_die "pip could not install tensorboard==$ICRL_TENSORBOARD_VERSION: check that PyPI is reachable, then rerun."
fi

# minari: a test loads `icrl dataset export --to minari` output with Farama's own package.
ICRL_MINARI_VERSION="0.5.4"
if ! compgen -G "$ICRL_VENV/lib/python3*/site-packages/minari-$ICRL_MINARI_VERSION.dist-info" >/dev/null; then
    icrl_say "installing minari==$ICRL_MINARI_VERSION into $ICRL_VENV (first run only)"
    icrl_pip "minari[hdf5]==$ICRL_MINARI_VERSION" ||
        icrl_die "pip could not install minari==$ICRL_MINARI_VERSION: check that PyPI is reachable, then rerun."
fi

# MuJoCo 3.17.0 for the MuJoCo families (envs::mujoco, through mujoco-rs): the library of the
# PyPI wheel, under the names the linker (libmujoco.so) and the loader (its SONAME) look for,
# in one folder that the build scripts write into every binary's RUNPATH.
ICRL_MUJOCO_VERSION="3.17.0"
if ! compgen -G "$ICRL_VENV/lib/python3*/site-packages/mujoco-$ICRL_MUJOCO_VERSION.dist-info" >/dev/null; then
    icrl_say "installing mujoco==$ICRL_MUJOCO_VERSION into $ICRL_VENV (first run only)"
    icrl_pip "mujoco==$ICRL_MUJOCO_VERSION" ||
        icrl_die "pip could not install mujoco==$ICRL_MUJOCO_VERSION: check that PyPI is reachable, then rerun."
fi
# imageio: Gymnasium's MuJoCo envs import it (their renderer), so `icrl bench envs` can time
# them beside ours and scripts/record_mujoco_fixtures.py runs in this environment.
ICRL_IMAGEIO_VERSION="2.38.1"
if ! compgen -G "$ICRL_VENV/lib/python3*/site-packages/imageio-$ICRL_IMAGEIO_VERSION.dist-info" >/dev/null; then
    icrl_say "installing imageio==$ICRL_IMAGEIO_VERSION into $ICRL_VENV (first run only)"
    icrl_pip "imageio==$ICRL_IMAGEIO_VERSION" ||
        icrl_die "pip could not install imageio==$ICRL_IMAGEIO_VERSION: check that PyPI is reachable, then rerun."
fi
icrl_mujoco_so="$(compgen -G "$ICRL_VENV/lib/python3*/site-packages/mujoco/libmujoco.so.$ICRL_MUJOCO_VERSION" | head -1)"
# The real path: in a git worktree whose .venv is a symlink, a link through it would break
# when that worktree goes.
[ -n "$icrl_mujoco_so" ] && icrl_mujoco_so="$(readlink -f "$icrl_mujoco_so")"
[ -n "$icrl_mujoco_so" ] ||
    icrl_die "$ICRL_VENV's mujoco package has no libmujoco.so.$ICRL_MUJOCO_VERSION: delete $ICRL_VENV and rerun."
mkdir -p "$ICRL_VENV/mujoco-lib"
ln -sf "$icrl_mujoco_so" "$ICRL_VENV/mujoco-lib/libmujoco.so"
ln -sf "$icrl_mujoco_so" "$ICRL_VENV/mujoco-lib/libmujoco.so.$ICRL_MUJOCO_VERSION"
export MUJOCO_DYNAMIC_LINK_DIR="$ICRL_VENV/mujoco-lib"

# --- Build environment for torch-sys --------------------------------------------------------
export VIRTUAL_ENV="$ICRL_VENV"
export PATH="$ICRL_VENV/bin:$PATH"
export LIBTORCH_USE_PYTORCH=1
unset LIBTORCH LIBTORCH_INCLUDE LIBTORCH_LIB

# icrl_binary [PATH]: the icrl binary a script runs. PATH when given: a copy of a release
# binary, so that rebuilding the tree during a run of several hours does not replace the
# binary under it. Otherwise this checkout's release build, built now (progress on stderr).
icrl_binary() {
    if [ -n "${1:-}" ]; then
        echo "$1"
        return
    fi
    echo "== building icrl (release)" >&2
    (cd "$ICRL_ROOT" && cargo build --release -q -p experiments) >&2
    echo "${CARGO_TARGET_DIR:-$ICRL_ROOT/target}/release/icrl"
}
