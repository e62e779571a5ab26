#!/bin/sh
# Puts iproute2's `ip` under ROOT as /usr/bin/ip (on every base's PATH; the local base has no
# /usr/sbin), with the shared libraries it links under /usr/lib (all but the C library and the
# loader, which every base with node has), for the image's link-local metadata sidecar
# (src/metadata/link-local.ts runs `ip addr replace`).
#   scripts/collect-iproute2.sh ROOT
# On this machine (scripts/image-base.sh) it copies the machine's own `ip`. In the Dockerfile's
# build stage it does nothing when ROOT already holds `ip` (the local build base brings it), and
# otherwise installs Debian's iproute2 package first (the official node image).
set -eu
root="$1"
[ -x "$root/usr/bin/ip" ] && exit 0
if ! command -v ip >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iproute2 >/dev/null
fi
ip_bin="$(readlink -f "$(command -v ip)")"
mkdir -p "$root/usr/bin"
cp -L "$ip_bin" "$root/usr/bin/ip"
for lib in $(ldd "$ip_bin" | grep -o '/[^ ]*'); do
  case "$(basename "$lib")" in
    libc.so.* | ld-linux*) continue ;;
  esac
  # Under /usr/lib whatever ldd says: on merged-/usr bases /lib is a symlink that a COPY must not
  # replace with a directory, and the loader searches /usr/lib/<multiarch> on every Debian base.
  case "$lib" in
    /usr/lib/*) dest="$lib" ;;
    /lib/*) dest="/usr$lib" ;;
    *) dest="/usr/lib/$(basename "$lib")" ;;
  esac
  mkdir -p "$root$(dirname "$dest")"
  cp -L "$lib" "$root$dest"
done
