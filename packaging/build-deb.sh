#!/bin/sh
# Builds the hbd Debian package: target/debian/hbd_VERSION-1_ARCH.deb.
#
#   packaging/build-deb.sh [--no-build] [--profile PROFILE] [--output DIR]
#
# Installs cargo-deb when missing (cargo install cargo-deb --locked), builds
# the binary (unless --no-build), generates the man pages and shell
# completions from that binary into target/pkg/, then runs cargo deb.
set -eu
cd "$(dirname "$0")/.."

build=yes
profile=release
output=target/debian
while [ $# -gt 0 ]; do
	case $1 in
	--no-build) build=no ;;
	--profile) profile=${2:?--profile needs a value}; shift ;;
	--output) output=${2:?--output needs a value}; shift ;;
	*) echo "build-deb.sh: unknown argument \"$1\" (expected --no-build, --profile P, --output DIR)" >&2; exit 2 ;;
	esac
	shift
done

if ! cargo deb --version >/dev/null 2>&1; then
	echo "build-deb.sh: installing cargo-deb" >&2
	cargo install cargo-deb --locked
fi

target_dir=${CARGO_TARGET_DIR:-target}
case $profile in
dev | debug) profile_dir=debug ;;
*) profile_dir=$profile ;;
esac
if [ "$build" = yes ]; then
	cargo build --locked --profile "$profile" --bin hbd
fi
hbd=$target_dir/$profile_dir/hbd
[ -x "$hbd" ] || { echo "build-deb.sh: $hbd not built (drop --no-build)" >&2; exit 1; }

# Generated from the binary being packaged, so they cannot describe another.
rm -rf target/pkg
mkdir -p target/pkg/completions
"$hbd" man --out target/pkg/man >/dev/null
"$hbd" completions bash >target/pkg/completions/hbd
"$hbd" completions zsh >target/pkg/completions/_hbd
"$hbd" completions fish >target/pkg/completions/hbd.fish

mkdir -p "$output"
cargo deb --no-build --profile "$profile" --output "$output"
