#!/bin/sh
# Checks the binaries deploy/build-static.sh put in dist/: each is statically
# linked (`file`), x86_64 runs `k3rs --version` in an empty chroot, aarch64 runs
# `k3rs --version` and `k3rs check-config` under qemu-user. Prints their sizes.
#
# Needs: file, and qemu-user-static (Debian) for aarch64; root for chroot.
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
dist="${1:-$repo/dist}"
failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# check-config exits 1 when the host lacks something k3rs needs (containerd on
# a build machine, say); it must still run to the end and print its verdict.
check_config_ran() {
    status=$1
    output=$2
    [ "$status" -le 1 ] && printf '%s\n' "$output" | grep -q '^Result: '
}

for arch in x86_64 aarch64; do
    bin="$dist/k3rs-$arch"
    if [ ! -f "$bin" ]; then
        fail "$bin is missing (run deploy/build-static.sh)"
        continue
    fi
    size=$(wc -c <"$bin")
    description=$(file -b "$bin")
    echo "k3rs-$arch: $size bytes ($((size / 1024 / 1024)) MiB): $description"
    case "$description" in
        *"statically linked"*) ;;
        *) fail "k3rs-$arch is not statically linked: $description" ;;
    esac
    case "$arch" in
        x86_64) machine="x86-64" ;;
        aarch64) machine="ARM aarch64" ;;
    esac
    case "$description" in
        *"$machine"*) ;;
        *) fail "k3rs-$arch is not an $machine binary: $description" ;;
    esac
done

x86="$dist/k3rs-x86_64"
if [ -f "$x86" ]; then
    if [ "$(id -u)" = 0 ] && command -v chroot >/dev/null 2>&1; then
        # Nothing in the chroot but the binary: no libc, no loader, no /proc.
        jail=$(mktemp -d)
        cp "$x86" "$jail/k3rs"
        if version=$(chroot "$jail" /k3rs --version); then
            echo "x86_64 in an empty chroot: $version"
        else
            fail "k3rs-x86_64 --version failed in an empty chroot"
        fi
        rm -rf "$jail"
    else
        fail "the empty-chroot check needs root and chroot"
    fi
    if [ "$(uname -m)" = x86_64 ]; then
        status=0
        output=$("$x86" check-config 2>&1) || status=$?
        if check_config_ran "$status" "$output"; then
            echo "x86_64 check-config: $(printf '%s\n' "$output" | grep '^Result: ')"
        else
            fail "k3rs-x86_64 check-config did not finish (exit $status): $output"
        fi
    fi
fi

arm="$dist/k3rs-aarch64"
if [ -f "$arm" ]; then
    qemu=$(command -v qemu-aarch64-static || command -v qemu-aarch64 || true)
    if [ "$(uname -m)" = aarch64 ]; then
        qemu=""
    elif [ -z "$qemu" ]; then
        fail "qemu-aarch64-static is missing (apt-get install qemu-user-static)"
    fi
    if [ "$(uname -m)" = aarch64 ] || [ -n "$qemu" ]; then
        if version=$($qemu "$arm" --version); then
            echo "aarch64 under ${qemu:-the host}: $version"
        else
            fail "k3rs-aarch64 --version failed under ${qemu:-the host}"
        fi
        status=0
        output=$($qemu "$arm" check-config 2>&1) || status=$?
        if check_config_ran "$status" "$output"; then
            echo "aarch64 check-config: $(printf '%s\n' "$output" | grep '^Result: ')"
            printf '%s\n' "$output" | grep -q "on aarch64" || fail "aarch64 check-config did not report the aarch64 architecture"
        else
            fail "k3rs-aarch64 check-config did not finish (exit $status): $output"
        fi
    fi
fi

if [ "$failures" -gt 0 ]; then
    echo "$failures static-build check(s) failed" >&2
    exit 1
fi
echo "static builds OK"
