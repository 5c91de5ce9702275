#!/usr/bin/env bash
# Run the compiled-path tests on arm64 under emulation (qemu-user-static + binfmt_misc)
# in a Debian bookworm arm64 root file system. Not run in CI: it is slow (~20-25 min
# the first time, ~15 min after). See CONTRIBUTING.md, "ARM (arm64, emulated)".
#
#   sudo scripts/test_arm64.sh [--root DIR] [--repo DIR] [--ref REF] [--rebuild]
#                              [--run CMD] [--] [PYTEST ARGS...]
#
#   --root DIR   the arm64 root folder (default $SKDIGITNET_ARM64_ROOT or
#                ~/.cache/skdigitnet-arm64); built once, reused after
#   --repo DIR   the checkout to test (default: the one holding this script)
#   --ref REF    test this commit (git archive) instead of the working tree
#   --rebuild    delete the root folder and build it again
#   --run CMD    run the shell command CMD in the copied checkout instead of pytest
#   PYTEST ARGS  replace the default list of test files
#
# Environment: DEBIAN_MIRROR (default: read from this machine's apt sources),
# SKDIGITNET_ARM64_PACKAGES (the PyPI packages installed in the root's venv).
set -euo pipefail

SUITE=bookworm
PACKAGES_DEFAULT="numpy scipy scikit-learn pandas pillow numba pytest hypothesis threadpoolctl"
PACKAGES=${SKDIGITNET_ARM64_PACKAGES:-$PACKAGES_DEFAULT}
VENV=/opt/venv
SRC=/src/skdigitnet

die() { echo "test_arm64.sh: error: $*" >&2; exit 1; }
say() { echo "== $* [$(date -u +%H:%M:%S)]"; }
usage() { sed -n '2,18s/^# \{0,1\}//p' "$0"; }

ROOT=${SKDIGITNET_ARM64_ROOT:-$HOME/.cache/skdigitnet-arm64}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REF=""
REBUILD=0
RUN_CMD=""
while [ $# -gt 0 ]; do
    case $1 in
        --root) [ $# -ge 2 ] || die "--root needs a folder"; ROOT=$2; shift 2 ;;
        --repo) [ $# -ge 2 ] || die "--repo needs a folder"; REPO=$2; shift 2 ;;
        --ref) [ $# -ge 2 ] || die "--ref needs a commit"; REF=$2; shift 2 ;;
        --rebuild) REBUILD=1; shift ;;
        --run) [ $# -ge 2 ] || die "--run needs a command"; RUN_CMD=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        --) shift; break ;;
        *) break ;;
    esac
done

[ "$(id -u)" -eq 0 ] || die "run as root (sudo $0 ...): debootstrap, chroot and mount need it"
REPO=$(cd "$REPO" && git rev-parse --show-toplevel) || die "--repo $REPO is not a git checkout"
mkdir -p "$ROOT"
ROOT=$(realpath "$ROOT")
case "$ROOT/" in
    "$REPO"/*) die "the root folder $ROOT lies inside the repository $REPO: choose another (--root)" ;;
esac
[ "$ROOT" != / ] || die "--root / is not allowed"

# One run per root folder at a time.
exec 9>"$ROOT.lock"
flock -n 9 || die "another run holds $ROOT.lock: wait for it or use another --root"

# --- host tools -----------------------------------------------------------------
need=()
command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v update-binfmts >/dev/null || need+=(binfmt-support)
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]} with apt-get"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
fi

BINFMT=/proc/sys/fs/binfmt_misc
if [ ! -e "$BINFMT/status" ]; then
    mount -t binfmt_misc binfmt_misc "$BINFMT" 2>/dev/null \
        || die "cannot mount binfmt_misc at $BINFMT (a container without the privilege?). \
Emulation needs it: running qemu-aarch64-static by hand cannot work, child processes \
fail with 'Exec format error'."
fi
if [ ! -e "$BINFMT/qemu-aarch64" ]; then
    update-binfmts --enable qemu-aarch64 2>/dev/null || true
    if [ ! -e "$BINFMT/qemu-aarch64" ] && [ -w "$BINFMT/register" ]; then
        # The magic/mask of an aarch64 ELF executable; F: the interpreter is opened now.
        printf '%s' ':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:PF' \
            >"$BINFMT/register" 2>/dev/null || true
    fi
fi
if [ ! -e "$BINFMT/qemu-aarch64" ] || ! grep -qx enabled "$BINFMT/qemu-aarch64"; then
    die "no enabled binfmt_misc entry qemu-aarch64 (update-binfmts --enable qemu-aarch64 \
failed). Emulation needs it: child processes would fail with 'Exec format error'."
fi
QEMU_INTERP=$(sed -n 's/^interpreter //p' "$BINFMT/qemu-aarch64")
QEMU_FIX=0
grep -q '^flags:.*F' "$BINFMT/qemu-aarch64" && QEMU_FIX=1

# Without the F flag the kernel opens the interpreter inside the chroot: put it there.
place_qemu() {
    if [ "$QEMU_FIX" -eq 0 ]; then
        mkdir -p "$ROOT$(dirname "$QEMU_INTERP")"
        cp -f "$(command -v qemu-aarch64-static)" "$ROOT$QEMU_INTERP"
    fi
}

# --- mounts (undone on exit) -------------------------------------------------------
MOUNTED=()
cleanup() {
    local i
    for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
        umount "${MOUNTED[i]}" 2>/dev/null || umount -l "${MOUNTED[i]}" 2>/dev/null || true
    done
    MOUNTED=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mount_in_root() {
    local m
    mkdir -p "$ROOT/proc" "$ROOT/sys" "$ROOT/dev/shm"
    for m in proc sys dev/shm; do
        mountpoint -q "$ROOT/$m" && die "$ROOT/$m is already mounted: is another run (outside the lock) using it?"
    done
    mount -t proc proc "$ROOT/proc"; MOUNTED+=("$ROOT/proc")
    mount -t sysfs -o ro sysfs "$ROOT/sys"; MOUNTED+=("$ROOT/sys")
    mount -t tmpfs -o mode=1777 tmpfs "$ROOT/dev/shm"; MOUNTED+=("$ROOT/dev/shm")
}

# Run a command inside the root with a clean environment (extra VAR=value first).
in_root() {
    chroot "$ROOT" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" \
        PATH="$VENV/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" "$@"
}

debian_mirror() {
    if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
    local m
    m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
        | awk '$1 == "deb" && $3 ~ /^'"$SUITE"'$/ {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}')
    if [ -z "$m" ]; then
        m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '
            /^URIs:/ {u = $2} /^Suites:/ {for (i = 2; i <= NF; i++) if ($i == "'"$SUITE"'") s = 1}
            /^$/ {if (s && u != "") {print u; exit} u = ""; s = 0}
            END {if (s && u != "") print u}' | head -n 1)
    fi
    echo "${m:-http://deb.debian.org/debian}"
}

# pip inside the root: the host's pip settings that point at a reachable (http) index.
write_pip_conf() {
    local key val line conf=""
    while IFS= read -r line; do
        key=${line%%=*}; val=${line#*=}; val=${val#\'}; val=${val%\'}
        case $key in
            *.index-url|*.extra-index-url|*.trusted-host|*.timeout|*.retries)
                local urls="" u
                for u in $val; do
                    case $key in *index-url) case $u in http://*|https://*) ;; *) continue ;; esac ;; esac
                    urls="$urls $u"
                done
                [ -n "$urls" ] && conf="$conf${key#*.} =$urls"$'\n'
                ;;
        esac
    done < <(pip config list 2>/dev/null | grep -E '^(global|install)\.' || true)
    # The host's certificate authorities too: a proxy in between may sign with its own.
    local ca
    ca=$(pip config list 2>/dev/null | sed -n "s/^[a-z]*\.cert='\(.*\)'$/\1/p" | head -n 1)
    [ -n "$ca" ] || ca=/etc/ssl/certs/ca-certificates.crt
    if [ -r "$ca" ]; then
        cp -L "$ca" "$ROOT/etc/pip-host-ca.crt"
        conf="${conf}cert = /etc/pip-host-ca.crt"$'\n'
    fi
    printf '[global]\n%s' "$conf" >"$ROOT/etc/pip.conf"
    if [ -n "$conf" ]; then
        echo "pip settings carried into the root:"
        printf '%s' "$conf"
    fi
}

# --- the root: built once ------------------------------------------------------------
if [ "$REBUILD" -eq 1 ] && [ -e "$ROOT" ]; then
    say "--rebuild: deleting $ROOT"
    for m in dev/shm sys proc; do
        mountpoint -q "$ROOT/$m" && die "$ROOT/$m is mounted: unmount it first"
    done
    rm -rf --one-file-system "$ROOT"
    mkdir -p "$ROOT"
fi

if [ ! -e "$ROOT/.skdigitnet-root-ok" ]; then
    [ -z "$(ls -A "$ROOT")" ] || die "$ROOT is not empty and not a finished root: use --rebuild"
    MIRROR=$(debian_mirror)
    say "building the arm64 root in $ROOT from $MIRROR (first stage)"
    t0=$SECONDS
    debootstrap --foreign --arch=arm64 --variant=minbase "$SUITE" "$ROOT" "$MIRROR"
    place_qemu
    say "second stage (emulated)"
    chroot "$ROOT" /debootstrap/debootstrap --second-stage
    cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
    mount_in_root
    say "apt-get python3 python3-venv in the root"
    in_root DEBIAN_FRONTEND=noninteractive apt-get update -q
    in_root DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        python3 python3-venv ca-certificates
    in_root apt-get clean
    cleanup
    touch "$ROOT/.skdigitnet-root-ok"
    say "root built in $((SECONDS - t0)) s"
fi
place_qemu
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
mount_in_root

if [ ! -e "$ROOT/.skdigitnet-venv-ok" ]; then
    say "venv $VENV in the root with PyPI's aarch64 wheels: $PACKAGES"
    t0=$SECONDS
    write_pip_conf
    rm -rf "${ROOT:?}$VENV"
    in_root /usr/bin/python3 -m venv "$VENV"
    # shellcheck disable=SC2086  # the package list splits on spaces
    in_root pip install -q --disable-pip-version-check --only-binary=:all: \
        "setuptools>=77" $PACKAGES
    touch "$ROOT/.skdigitnet-venv-ok"
    say "venv built in $((SECONDS - t0)) s"
fi

# --- every run: the checkout ------------------------------------------------------------
say "copying ${REF:-the working tree} of $REPO to $SRC"
rm -rf "${ROOT:?}$SRC"
mkdir -p "$ROOT$SRC"
if [ -n "$REF" ]; then
    COMMIT=$(git -C "$REPO" rev-parse --verify "$REF^{commit}") || die "no commit $REF in $REPO"
    git -C "$REPO" archive "$COMMIT" | tar -x -C "$ROOT$SRC"
else
    COMMIT="$(git -C "$REPO" rev-parse HEAD) + working tree"
    # shellcheck disable=SC2016  # expanded by the inner sh
    (cd "$REPO" && git ls-files -z --cached --others --exclude-standard \
        | xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh \
        | tar --null -T - -cf -) | tar -x -C "$ROOT$SRC"
fi
in_root sh -c "cd $SRC && pip install -q --disable-pip-version-check --no-deps \
    --no-build-isolation -e . >/dev/null"

say "arm64 environment (checkout $COMMIT)"
echo "uname -m: $(in_root uname -m)"
in_root python - <<'EOF'
import platform, sys
import llvmlite, numba, numpy
import llvmlite.binding as llvm
print("python", platform.python_version(), platform.machine(), "| numba", numba.__version__,
      "| llvmlite", llvmlite.__version__, "| numpy", numpy.__version__)
from numba.core import config
print("numba target cpu:", config.CPU_NAME or llvm.get_host_cpu_name(),
      "| features:", config.CPU_FEATURES or llvm.get_host_cpu_features().flatten() or "(none)")
EOF

if [ -n "$RUN_CMD" ]; then
    say "running: $RUN_CMD"
    t0=$SECONDS
    status=0
    in_root SKDIGITNET_NUMBA=1 sh -c "cd $SRC && $RUN_CMD" || status=$?
    say "--run finished in $((SECONDS - t0)) s (exit $status)"
    exit "$status"
fi

if [ $# -eq 0 ]; then
    # Every test file that touches the compiled engine, but none needing matplotlib,
    # dask or onnx (not in the root's venv).
    set --
    for f in "$ROOT$SRC"/tests/test_*.py; do
        if grep -qE 'skdigitnet\._engine|def test_[A-Za-z0-9_]*\([^)]*\bbackend\b' "$f" \
            && ! grep -qE '^\s*(import|from)\s+(matplotlib|dask|onnx)' "$f"; then
            set -- "$@" "tests/${f##*/}"
        fi
    done
    [ $# -gt 0 ] || die "no test file imports skdigitnet._engine"
fi
say "SKDIGITNET_NUMBA=1 python -m pytest -q -rfEs $*"
t0=$SECONDS
status=0
# shellcheck disable=SC2016  # expanded by the shell inside the root
in_root SKDIGITNET_NUMBA=1 sh -c 'cd "$0" && exec nice -n 10 python -m pytest -q -rfEs "$@"' \
    "$SRC" "$@" || status=$?
say "pytest finished in $((SECONDS - t0)) s (exit $status)"
exit "$status"
