#!/usr/bin/env bash
# Builds campub for a Raspberry Pi: with cross-rs in our Debian bookworm image (the default), or
# with --native on a Debian bookworm host's own cross toolchain. Both use the same packages
# (cross/install-deps.sh) and the same cargo settings (cross/TARGET.toml).
#
#   scripts/cross-build.sh [--native | --sysroot] [--test | --test-all] [TARGET...]
#
# TARGET: aarch64-unknown-linux-gnu (64-bit Raspberry Pi OS, the default) and/or
# armv7-unknown-linux-gnueabihf (32-bit). --test also runs campub's unit tests for the target
# under qemu-user; --test-all its integration tests too, which start the ARM campub binary
# through qemu-user as well (CAMPUB_TEST_RUNNER in cross/TARGET.toml). Prints the path of each
# binary built.
# cross needs `cargo install cross` and docker or podman; --native needs Debian bookworm.
# --sysroot is --native with the target's libraries unpacked into target/sysroot-TARGET instead
# of installed through multiarch (cross/install-deps.sh --sysroot says when that is needed);
# qemu-user then runs the tests with -L target/sysroot-TARGET.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

native=false
sysroot=false
test_args=()
targets=()
for arg in "$@"; do
    case "$arg" in
        --native) native=true ;;
        --sysroot) native=true sysroot=true ;;
        --test) test_args=(--bins) ;;
        --test-all) test_args=(--no-fail-fast) ;;
        aarch64-unknown-linux-gnu | armv7-unknown-linux-gnueabihf) targets+=("$arg") ;;
        *) sed -n '2,16s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=(aarch64-unknown-linux-gnu)

target_dir="${CARGO_TARGET_DIR:-target}"

# use_sysroot TARGET: cargo links against and qemu-user runs with the libraries in
# target/sysroot-TARGET (extra --config settings, given after cross/TARGET.toml, win over it).
sysroot_config=()
use_sysroot() {
    local target=$1 gnu qemu root
    case "$target" in
        aarch64-*) gnu=aarch64-linux-gnu qemu=qemu-aarch64-static ;;
        armv7-*) gnu=arm-linux-gnueabihf qemu=qemu-arm-static ;;
    esac
    root=$(realpath "$target_dir/sysroot-$target")
    cross/install-deps.sh --sysroot "$root" "$target"
    sysroot_config=(
        # -rpath-link: libzmq's own dependencies, which the linker checks, are there too.
        --config "target.$target.rustflags = ['-L', 'native=$root/usr/lib/$gnu', '-L', 'native=$root/lib/$gnu', '-C', 'link-arg=-Wl,-rpath-link,$root/usr/lib/$gnu:$root/lib/$gnu']"
        # Here -L is right: the host has no libc of this architecture to mix with the sysroot's.
        --config "target.$target.runner = '$qemu -L $root'"
        --config "env.CAMPUB_TEST_RUNNER = '$qemu -L $root'"
    )
}

if $native; then
    for target in "${targets[@]}"; do
        $sysroot || cross/install-deps.sh "$target"
        rustup target list --installed | grep -x "$target" >/dev/null || rustup target add "$target"
    done
    # build TARGET SUBCOMMAND ARGS...: --target right after the subcommand, before any `--`.
    build() { cargo --config "cross/$1.toml" "${sysroot_config[@]}" "$2" --target "$1" "${@:3}"; }
else
    command -v cross >/dev/null || { echo "cross-build: install cross-rs first: cargo install cross" >&2; exit 1; }
    # A docker client without a daemon (common on podman hosts) would make cross fail.
    if [ -z "${CROSS_CONTAINER_ENGINE:-}" ] && ! docker info >/dev/null 2>&1 && command -v podman >/dev/null; then
        export CROSS_CONTAINER_ENGINE=podman
    fi
    # cross 0.2.5 runs `rustup toolchain add` on the active toolchain whenever rustup >= 1.28
    # lists it as "(active, default)": for a channel like stable that means an update. Hand it
    # the version instead (a no-op to re-add), or pin one in rust-toolchain.toml.
    toolchain=()
    active=$(rustup show active-toolchain | cut -d' ' -f1)
    case "$active" in
        stable* | beta* | nightly*)
            version=$(rustc --version | cut -d' ' -f2)
            if ! rustup toolchain list | grep "^$version-" >/dev/null; then
                echo "cross-build: cross would update $active; run: rustup toolchain install $version" >&2
                exit 1
            fi
            toolchain=("+$version") ;;
    esac
    build() { cross "${toolchain[@]}" "$2" --target "$1" "${@:3}"; }
fi

# run_tests TARGET LOG ARGS...: `cargo test -p campub ARGS` for TARGET, its output shown and
# kept in LOG. In a process group of its own, which is killed afterwards: under qemu-user a
# process the tests spawn can deadlock between fork and exec (seen once in about 45 runs: the
# test fails after 20 s, or its output pipe never closes), and the orphan would otherwise hold
# our stdout open forever. Bounded: a test binary that hangs under emulation fails after 20
# minutes instead of holding CI forever.
run_tests() {
    local target=$1 log=$2
    shift 2
    : >"$log"
    (
        set -m
        build "$target" test --locked -p campub "$@" >"$log" 2>&1 &
        group=$!
        tail -n +1 -f --pid=$group "$log" &
        shown=$!
        # The watchdog has a group of its own too, killed whole so that its sleep does not
        # hold anything open.
        (sleep 1200; echo "cross-build: tests still running after 20 min; killed" >&2; kill -KILL -- -$group 2>/dev/null) &
        watchdog=$!
        status=0
        wait $group || status=$?
        kill -KILL -- -$watchdog 2>/dev/null || true
        kill -KILL -- -$group 2>/dev/null || true
        wait $shown 2>/dev/null || true
        exit $status
    )
}

for target in "${targets[@]}"; do
    echo "cross-build: $target ($($sysroot && echo sysroot || { $native && echo native; } || echo cross))"
    if $sysroot; then use_sysroot "$target"; fi
    build "$target" build --release --locked -p campub -p camrelay
    if [ ${#test_args[@]} -gt 0 ]; then
        log="$target_dir/cross-test-$target.log"
        status=0
        run_tests "$target" "$log" "${test_args[@]}" || status=$?
        # A test that fails under emulation is run once more, alone, and named loudly either
        # way: qemu-user's fork can deadlock before exec (see run_tests), which fails or hangs a
        # test through no fault of campub. A test that fails twice fails the step; so does a
        # build error, or more failures than emulation explains.
        if [ $status -ne 0 ]; then
            mapfile -t failed < <(sed -n 's/^test \(.*\) \.\.\. FAILED$/\1/p' "$log" | sort -u)
            if [ ${#failed[@]} -eq 0 ] || [ ${#failed[@]} -gt 3 ]; then
                echo "cross-build: $target tests failed (${#failed[@]} failed tests named; not retried)" >&2
                exit $status
            fi
            echo "cross-build: ${#failed[@]} test(s) failed under qemu-user, running them once more: ${failed[*]}" >&2
            if run_tests "$target" "$log.retry" --no-fail-fast -- --exact "${failed[@]}"; then
                echo "cross-build: RETRIED under qemu-user and passed the second time: ${failed[*]}" >&2
            else
                echo "cross-build: failed twice under qemu-user: ${failed[*]}" >&2
                exit 1
            fi
        fi
    fi
    echo "cross-build: built $target_dir/$target/release/campub"
done
