#!/usr/bin/env bash
# Builds two local base images from this machine's own Node, for building infra/webhook/Dockerfile
# where no base image can be pulled (offline machines, the image test):
#   localhost/idbridge-base:node20   distroless-style: node, the shared libraries it links, CA
#                                    certificates, /etc/passwd and /etc/group with nonroot (65532); no shell
#   localhost/idbridge-build:node20  the same plus /bin/sh, /usr/bin/env, this machine's npm and, under
#                                    /opt/iproute2, its `ip` with its libraries (build stage)
# Usage: scripts/image-base.sh [podman|docker]   (prints the two image names)
set -euo pipefail
engine="${1:-podman}"
base_tag="${IDBRIDGE_BASE_IMAGE_TAG:-localhost/idbridge-base:node20}"
build_tag="${IDBRIDGE_BUILD_IMAGE_TAG:-localhost/idbridge-build:node20}"
node_bin="$(node -p process.execPath)"
npm_dir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"   # …/node_modules/npm

work="$(mktemp -d "${TMPDIR:-/tmp}/idbridge-base-XXXXXX")"
trap 'rm -rf "$work"' EXIT

# Copies a binary and every shared library ldd names into root $1, at the same paths.
add_binary() {
  local root="$1" src="$2" dest="$3"
  mkdir -p "$root$(dirname "$dest")"
  cp -L "$src" "$root$dest"
  for lib in $(ldd "$src" | grep -o '/[^ ]*'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -Ln "$lib" "$root$lib"
  done
}

# The files every image here shares: users, CA certificates, a home and /tmp.
add_etc() {
  local root="$1"
  mkdir -p "$root/etc/ssl/certs" "$root/tmp" "$root/home/nonroot" "$root/root"
  chmod 1777 "$root/tmp"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
  cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
}

# Imports root $1 as image $2 (numeric owners: nonroot owns its home).
import_root() {
  local root="$1" tag="$2"
  tar --numeric-owner --owner=0 --group=0 -C "$root" -cf "$root.tar" --exclude=./home/nonroot . 
  tar --numeric-owner --owner=65532 --group=65532 -C "$root" -rf "$root.tar" ./home/nonroot
  "$engine" import --quiet \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'WORKDIR /' \
    "$root.tar" "$tag" >/dev/null
}

base="$work/base"
add_binary "$base" "$node_bin" /usr/local/bin/node
add_etc "$base"
import_root "$base" "$base_tag"

build="$work/build"
add_binary "$build" "$node_bin" /usr/local/bin/node
add_binary "$build" "$(readlink -f /bin/sh)" /bin/sh
add_binary "$build" "$(readlink -f "$(command -v env)")" /usr/bin/env
add_etc "$build"
mkdir -p "$build/usr/local/lib/node_modules"
cp -a "$npm_dir" "$build/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$build/usr/local/bin/npm"
# This machine's iproute2 `ip`, which the Dockerfile's build stage hands to the final image.
"$(dirname "$0")/collect-iproute2.sh" "$build/opt/iproute2"
import_root "$build" "$build_tag"

echo "$base_tag"
echo "$build_tag"
