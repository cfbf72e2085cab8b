#!/usr/bin/env bash
# Builds the Debian package target/debian/card-agent_<version>_<arch>.deb with Debian's own
# tools (dpkg-deb, dpkg-shlibdeps), no cargo-deb: nothing extra to compile in every CI run.
#
#   installers/debian/build-deb.sh [--release] [--bin PATH] [--out DIR]
#
#   --release   build (or take) target/release/card-agent instead of target/debug/card-agent
#   --bin PATH  package this binary instead of building one
#   --out DIR   write the .deb there (default: target/debian)
#   --fast      compress with gzip -1 instead of xz (for tests: seconds instead of a minute)
#
# The files every system-wide install has (host manifests for each browser, the systemd user
# unit, the tray's XDG autostart entry, /etc/card-agent/config.toml) are written by the
# program itself, `card-agent install --system --destdir`, so the package and a hand install
# never disagree. This script adds what only a Debian package has: the unpacked extension and
# Debian chromium's hook for it, documentation, DEBIAN/ metadata and maintainer scripts.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

profile=debug
bin=
compress=(-Zxz)
out="$repo/target/debian"
while [ $# -gt 0 ]; do
  case "$1" in
    --release) profile=release; shift ;;
    --bin) bin=${2:?--bin needs a path}; shift 2 ;;
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --fast) compress=(-Zgzip -z1); shift ;;
    -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "build-deb: unknown argument $1" >&2; exit 2 ;;
  esac
done

for tool in dpkg-deb dpkg-shlibdeps dpkg-architecture strip gzip; do
  command -v "$tool" > /dev/null || {
    echo "build-deb: $tool not found (apt-get install dpkg-dev binutils gzip)" >&2
    exit 1
  }
done

if [ -z "$bin" ]; then
  if [ "$profile" = release ]; then
    (cd "$repo" && cargo build --release -q -p card-agent)
  else
    (cd "$repo" && cargo build -q -p card-agent)
  fi
  bin="$repo/target/$profile/card-agent"
fi
[ -x "$bin" ] || { echo "build-deb: $bin is not an executable" >&2; exit 1; }

# The version comes from the workspace manifest, the one place it is written; -1 is the
# Debian revision of this packaging.
upstream=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' "$repo/Cargo.toml")
[ -n "$upstream" ] || { echo "build-deb: no version in Cargo.toml" >&2; exit 1; }
version="$upstream-1"
arch=$(dpkg-architecture -qDEB_HOST_ARCH)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage="$work/root"
mkdir -p "$stage/DEBIAN" "$stage/usr/bin"

# The binary, stripped as Debian policy asks (debug builds shrink from ~150 MB to ~20 MB).
install -m 0755 "$bin" "$stage/usr/bin/card-agent"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/usr/bin/card-agent" 2> /dev/null || true

# Host manifests, user unit, autostart entry, default config: the program's own list.
"$stage/usr/bin/card-agent" install --system --destdir "$stage" --exe /usr/bin/card-agent >&2

# The extension, unpacked, for Chromium-family browsers (its manifest's `key` fixes the id
# hccjmiblnokapoamfkgnbbighmnfpoig that the host manifests allow). Tests, tools and the
# page library stay out, as in tools/build-firefox.js.
ext="$stage/usr/share/card-agent/extension"
mkdir -p "$ext"
for name in manifest.json background.js content.js legacy-shim.js smartpki-content.js smartpki-shim.js popup.html popup.js popup.css \
  lib icons _locales selftest; do
  cp -R "$repo/extension/$name" "$ext/"
done
# Debian's chromium loads every extension under /usr/share/chromium/extensions for every
# user (/etc/chromium.d/extensions passes them as --load-extension), as the webext-* packages
# use it. Google Chrome, Edge and Brave accept no unpacked extension this way: see README.Debian.
mkdir -p "$stage/usr/share/chromium/extensions"
ln -s ../../card-agent/extension "$stage/usr/share/chromium/extensions/card-agent"

# Documentation: copyright, changelog, README.Debian, enterprise policy examples, man page.
doc="$stage/usr/share/doc/card-agent"
mkdir -p "$doc/examples" "$stage/usr/share/man/man1"
install -m 0644 "$here/copyright" "$doc/copyright"
install -m 0644 "$here/README.Debian" "$doc/README.Debian"
gzip -9n < "$here/changelog" > "$doc/changelog.Debian.gz"
cp -R "$here/examples/." "$doc/examples/"
gzip -9n < "$here/card-agent.1" > "$stage/usr/share/man/man1/card-agent.1.gz"
mkdir -p "$stage/usr/share/lintian/overrides"
install -m 0644 "$here/lintian-overrides" "$stage/usr/share/lintian/overrides/card-agent"

# Modes: what umask or a checkout left is not what a package should carry.
find "$stage" -path "$stage/DEBIAN" -prune -o -type d -exec chmod 0755 {} +
find "$stage" -path "$stage/DEBIAN" -prune -o -type f ! -path "$stage/usr/bin/*" -exec chmod 0644 {} +

# Every file under /etc is a conffile: an administrator's edit survives upgrades.
(cd "$stage" && find etc -type f | sort | sed 's,^,/,') > "$stage/DEBIAN/conffiles"
[ -s "$stage/DEBIAN/conffiles" ] || rm "$stage/DEBIAN/conffiles"

for script in postinst postrm; do
  install -m 0755 "$here/$script" "$stage/DEBIAN/$script"
done

# Library dependencies from the binary itself, with Debian's symbols files for versions.
# dpkg-shlibdeps wants a debian/control beside it; a minimal one is enough.
mkdir -p "$work/src/debian"
printf 'Source: card-agent\n\nPackage: card-agent\nArchitecture: any\n' > "$work/src/debian/control"
shlibs=$(cd "$work/src" && dpkg-shlibdeps -O "$stage/usr/bin/card-agent" | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "build-deb: dpkg-shlibdeps found no libraries" >&2; exit 1; }
# PC/SC is the one library the program cannot work without; say so even if a future build
# loads it at run time, where dpkg-shlibdeps cannot see it.
case "$shlibs" in
  *libpcsclite1*) depends="$shlibs, pcscd" ;;
  *) depends="$shlibs, pcscd, libpcsclite1" ;;
esac

installed_size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@DEPENDS@/$depends/" \
  -e "s/@INSTALLED_SIZE@/$installed_size/" "$here/control.in" > "$stage/DEBIAN/control"
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -print0 | sort -z |
  xargs -0 md5sum | sed 's, \./, ,') > "$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/md5sums" "$stage/DEBIAN/conffiles" 2> /dev/null || true

mkdir -p "$out"
deb="$out/card-agent_${version}_${arch}.deb"
# --root-owner-group: every file root:root without fakeroot.
dpkg-deb --root-owner-group "${compress[@]}" --build "$stage" "$deb" > /dev/null
echo "$deb"
