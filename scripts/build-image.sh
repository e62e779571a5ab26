#!/usr/bin/env bash
# Builds the idbridge image with its release metadata, and writes its SBOM beside it.
#   scripts/build-image.sh [--local-base] [--tag NAME:TAG] [--out DIR]
#     --local-base  build offline: both bases come from this machine's Node (scripts/image-base.sh)
#     --tag         image name (default idbridge/webhook:<package.json version>)
#     --out         where the SBOM goes (default dist/image): sbom.cdx.json, CycloneDX, of the image's node_modules
# IMAGE_ENGINE=podman|docker (default: podman if installed, else docker); extra build flags in
# IMAGE_BUILD_FLAGS (e.g. "--isolation chroot" where podman cannot start runc for RUN steps).
set -euo pipefail
cd "$(dirname "$0")/.."

version="$(node -p 'require("./package.json").version')"
tag="idbridge/webhook:$version"
out="dist/image"
local_base=false
while [ "$#" -gt 0 ]; do
  case "$1" in
    --local-base) local_base=true ;;
    --tag) tag="$2"; shift ;;
    --out) out="$2"; shift ;;
    *) echo "build-image.sh: unknown argument $1 (see the usage at the top of the script)" >&2; exit 2 ;;
  esac
  shift
done
engine="${IMAGE_ENGINE:-$(command -v podman >/dev/null 2>&1 && echo podman || echo docker)}"
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"

args=(--build-arg "VERSION=$version" --build-arg "REVISION=$revision")
if [ "$local_base" = true ]; then
  mapfile -t bases < <(scripts/image-base.sh "$engine")
  args+=(--build-arg "BASE_IMAGE=${bases[0]}" --build-arg "BUILD_IMAGE=${bases[1]}")
  # npm ci inside the build stage reads this machine's npm cache first (podman mounts it for RUN steps).
  cache="$(npm config get cache)"
  if [ "$engine" = podman ] && [ -d "$cache" ]; then
    args+=(--volume "$cache:/npm-cache" --build-arg npm_config_cache=/npm-cache --build-arg npm_config_prefer_offline=true)
  fi
fi

# shellcheck disable=SC2086 # IMAGE_BUILD_FLAGS is a list of flags
build() { "$engine" build ${IMAGE_BUILD_FLAGS:-} "${args[@]}" -f infra/webhook/Dockerfile -t "$tag" .; }
# runc can fail a RUN step at random with "Close_Fd sealing memfd copy: Device or resource busy"
# (its sealed copy of itself races a writable mapping on some kernels): build once more then,
# with the cached layers; any other failure is final.
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! build 2>"$log"; then
  cat "$log" >&2
  grep -q 'sealing memfd copy' "$log" || exit 1
  echo "build-image: runc's memfd race (above); building once more" >&2
  build
else
  cat "$log" >&2
fi
# The SBOM the build stage wrote of the installed tree (/app/sbom.cdx.json), copied beside the image.
mkdir -p "$out"
container="$("$engine" create "$tag")"
"$engine" cp "$container:/app/sbom.cdx.json" "$out/sbom.cdx.json"
"$engine" rm "$container" >/dev/null
echo "built $tag ($version, $revision); SBOM: $out/sbom.cdx.json"
