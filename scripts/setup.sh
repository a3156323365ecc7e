#!/usr/bin/env bash
# One setup for both README commands: install what is missing (Debian 12 + bookworm-backports),
# build, then run the demo or the test suite.
#
#   bash scripts/setup.sh demo     install, build, run the end-to-end demo
#   bash scripts/setup.sh test     install, build, run the whole test suite (what CI runs)
#   bash scripts/setup.sh install  only install packages
#   bash scripts/setup.sh build    install and build (build/)
#
# Idempotent: a second run installs nothing and rebuilds incrementally.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mode=${1:-build}
export DEBIAN_FRONTEND=noninteractive

log() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

SUDO=
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || die "run as root (or install sudo): packages must be installed"
  SUDO=sudo
fi

# Packages from bookworm-backports (keep -t bookworm-backports on these only: putting the
# bookworm packages on the same command line pulls dozens of unrelated upgrades).
BACKPORTS_PKGS=(libngtcp2-dev libngtcp2-crypto-gnutls-dev libnghttp3-dev meson)
# Minimum versions of the backports packages (bookworm itself has older ones).
declare -A MIN_VERSION=([libngtcp2-dev]=1.11 [libngtcp2-crypto-gnutls-dev]=1.11 [libnghttp3-dev]=1.8 [meson]=1.7)

BOOKWORM_PKGS=(
  g++ ninja-build pkg-config git ca-certificates
  libgnutls28-dev gnutls-bin libglib2.0-dev libjson-glib-dev libjwt-gnutls-dev libsoup-3.0-dev curl
  libhiredis-dev redis-server
  libgtest-dev libgmock-dev
  clang libclang-rt-14-dev
  chromium
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-base-apps gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
  ffmpeg obs-studio xvfb xauth libgl1-mesa-dri python3-gi python3-gst-1.0
)

installed_version() { dpkg-query -W -f='${Status} ${Version}\n' "$1" 2>/dev/null | awk '/install ok installed/ {print $4}' || true; }

missing=()
missing_bp=()
for p in "${BOOKWORM_PKGS[@]}"; do
  [ -n "$(installed_version "$p")" ] || missing+=("$p")
done
for p in "${BACKPORTS_PKGS[@]}"; do
  v=$(installed_version "$p")
  if [ -z "$v" ] || dpkg --compare-versions "$v" lt "${MIN_VERSION[$p]}"; then missing_bp+=("$p"); fi
done

add_backports() {
  # Already configured in any form?
  if grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then return; fi
  # Reuse the mirror URI of the machine's own bookworm source (deb822 or one-line format).
  local mirror
  mirror=$( { grep -hs -E '^\s*URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}';
              grep -hs -E '^\s*deb\s' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
                sed -E 's/\[[^]]*\]//' | awk '{print $2}'; } | grep -v -- '-security' | head -n 1 || true)
  [ -n "$mirror" ] || die "no Debian mirror found in the apt sources to add bookworm-backports"
  log "adding bookworm-backports from the existing mirror"
  $SUDO tee /etc/apt/sources.list.d/moq-gst-backports.sources >/dev/null <<SRC
Types: deb
URIs: $mirror
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
}

if [ ${#missing[@]} -gt 0 ] || [ ${#missing_bp[@]} -gt 0 ]; then
  [ ${#missing_bp[@]} -gt 0 ] && add_backports
  log "apt-get update"
  $SUDO apt-get update -q >/dev/null
  if [ ${#missing_bp[@]} -gt 0 ]; then
    log "installing from bookworm-backports: ${missing_bp[*]}"
    $SUDO apt-get install -y -q --no-install-recommends -t bookworm-backports "${missing_bp[@]}" >/dev/null
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing from bookworm: ${missing[*]}"
    $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  fi
else
  log "all packages present"
fi

# Node.js for the browser tests (any node >= 18 will do; Debian's if there is none).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  log "installing nodejs and npm"
  $SUDO apt-get install -y -q --no-install-recommends nodejs npm >/dev/null
fi
# npm packages, exactly as locked (package-lock.json), only when the lock changed: the relay's
# watch page player (bundled into moqt-relay at build time; every mode) and the browser tests'.
npm_ci() {  # npm_ci DIR
  local stamp="$here/$1/node_modules/.moq-gst-lock"
  cmp -s "$here/$1/package-lock.json" "$stamp" 2>/dev/null && return 0
  log "npm ci ($1)"
  (cd "$here/$1" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || return 1
  cp "$here/$1/package-lock.json" "$stamp"
}
if ! npm_ci ext/moqt/web/page; then
  [ "$mode" = test ] && die "npm ci failed (ext/moqt/web/page)"
  log "warning: npm ci failed: the relay's watch page will list broadcasts without a player"
fi
if [ "$mode" = test ] || [ "$mode" = install ]; then
  npm_ci tests/browser || die "npm ci failed (tests/browser)"
fi

[ "$mode" = install ] && exit 0

cd "$here"
build() {  # build DIR [meson options...]
  local dir=$1; shift
  local logs=${TMPDIR:-/tmp}/moq-gst-$dir
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >"$logs.setup.log" 2>&1 || { cat "$logs.setup.log"; die "meson setup $dir failed"; }
  fi
  log "building $dir"
  ninja -C "$dir" >"$logs.build.log" 2>&1 || { tail -n 60 "$logs.build.log"; die "build of $dir failed"; }
}

build build --buildtype=debugoptimized

case "$mode" in
  build) ;;
  demo) exec bash "$here/scripts/demo.sh" ;;
  test) exec bash "$here/scripts/test.sh" ;;
  *) die "unknown mode '$mode' (demo|test|install|build)" ;;
esac
