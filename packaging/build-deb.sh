#!/bin/sh
# Builds the hbd Debian package: target/debian/hbd_VERSION-1_ARCH.deb.
#
#   packaging/build-deb.sh [--no-build] [--profile PROFILE] [--output DIR] [--revision N]
#
# Installs cargo-deb when missing (cargo install cargo-deb --locked), builds
# the binary (unless --no-build), generates the man pages, shell completions
# and the Debian changelog from that binary into target/pkg/, then runs
# cargo deb. The Maintainer is $DEBFULLNAME <$DEBEMAIL> when DEBEMAIL is set
# (Debian's convention), else Cargo.toml's placeholder. --revision sets the
# Debian revision (default 1): the upgrade test packages one binary twice.
set -eu
cd "$(dirname "$0")/.."

build=yes
profile=release
output=target/debian
revision=1
while [ $# -gt 0 ]; do
	case $1 in
	--no-build) build=no ;;
	--profile) profile=${2:?--profile needs a value}; shift ;;
	--output) output=${2:?--output needs a value}; shift ;;
	--revision) revision=${2:?--revision needs a value}; shift ;;
	*) echo "build-deb.sh: unknown argument \"$1\" (expected --no-build, --profile P, --output DIR, --revision N)" >&2; exit 2 ;;
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

# The changelog Debian wants in every package: one entry for the version
# being packaged, dated by the commit it is built from (reproducible).
version=$("$hbd" --version | sed -n 's/^hbd //p')
maintainer=$(sed -n 's/^maintainer = "\(.*\)"$/\1/p' Cargo.toml)
if [ -n "${DEBEMAIL:-}" ]; then
	maintainer="${DEBFULLNAME:-hbd packager} <$DEBEMAIL>"
fi
if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
	stamp=$(date -u -R -d "@$SOURCE_DATE_EPOCH")
else
	stamp=$(git log -1 --format=%aD 2>/dev/null || date -u -R)
fi
cat >target/pkg/changelog <<EOF
hbd ($version-$revision) unstable; urgency=medium

  * hbd $version, packaged from its source tree by packaging/build-deb.sh.
    What changed is in the project's history; what hbd does is in
    /usr/share/doc/hbd.

 -- $maintainer  $stamp
EOF

mkdir -p "$output"
cargo deb --no-build --profile "$profile" --maintainer "$maintainer" --output "$output" --deb-revision "$revision"
