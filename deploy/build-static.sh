#!/bin/sh
# Builds the statically linked k3rs release binaries (musl libc) for x86_64 and
# aarch64 into dist/, with the installer beside them, and prints their sizes.
#
#   deploy/build-static.sh                       # both targets
#   deploy/build-static.sh aarch64-unknown-linux-musl
#
# Each target is one cargo command (what this script runs):
#   cargo zigbuild --locked --release -p k3rs --target x86_64-unknown-linux-musl
#   cargo zigbuild --locked --release -p k3rs --target aarch64-unknown-linux-musl
#
# Needs: rustup target add x86_64-unknown-linux-musl aarch64-unknown-linux-musl
#        pip install ziglang cargo-zigbuild
# zig compiles the C parts (bundled SQLite, ring) for each target and links
# against the musl libc that Rust ships for it; see docs/static-builds.md.
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
dist="$repo/dist"
[ "$#" -gt 0 ] || set -- x86_64-unknown-linux-musl aarch64-unknown-linux-musl

# pip puts cargo-zigbuild in Python's scripts directory, which is not always on PATH.
if ! command -v cargo-zigbuild >/dev/null 2>&1 && command -v python3 >/dev/null 2>&1; then
    scripts=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || true)
    [ -z "$scripts" ] || PATH="$PATH:$scripts"
fi
command -v cargo-zigbuild >/dev/null 2>&1 || {
    echo "cargo-zigbuild is missing: pip install ziglang cargo-zigbuild" >&2
    exit 1
}

mkdir -p "$dist"
for target in "$@"; do
    arch=${target%%-*}
    rustup target list --installed 2>/dev/null | grep -qx "$target" || rustup target add "$target"
    start=$(date +%s)
    cargo zigbuild --locked --release -p k3rs --target "$target"
    seconds=$(($(date +%s) - start))
    cp "$target_dir/$target/release/k3rs" "$dist/k3rs-$arch.tmp"
    mv -f "$dist/k3rs-$arch.tmp" "$dist/k3rs-$arch"
    size=$(wc -c <"$dist/k3rs-$arch")
    echo "built dist/k3rs-$arch for $target in ${seconds}s: $size bytes ($((size / 1024 / 1024)) MiB)"
done
cp deploy/install.sh "$dist/install.sh"
(cd "$dist" && sha256sum k3rs-* install.sh >sha256sums.txt)
ls -l "$dist"
