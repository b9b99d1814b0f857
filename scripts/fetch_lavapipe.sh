#!/usr/bin/env bash
# A second software WebGPU adapter for the tests: Mesa's lavapipe Vulkan driver from Debian's <codename>-backports
# suite (Mesa 25; Debian 12's own lavapipe is too old for Dawn), unpacked into .lavapipe/ with its ICD manifest
# pointing there. Nothing is installed system-wide. With it, test/webgpu_vulkan.test.ts runs what the OpenGL adapter
# cannot: Dawn's Vulkan backend in core mode (what a GPU on Linux gets), timestamp queries, the GEMM kernel GPUs get.
# The backports suite is derived from this machine's own Debian apt source (no mirror is named here).
# Run: bash scripts/fetch_lavapipe.sh   (needs apt-get and the network; .ci/run calls it)
set -euo pipefail
cd "$(dirname "$0")/.."
dest="$PWD/.lavapipe"
icd="$dest/lvp_icd.json"
[ -f "$icd" ] && { echo "$icd"; exit 0; }
. /etc/os-release
suite="${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}-backports"
# The URI of the apt source that serves the release itself (deb822 .sources files, or one-line sources.list).
uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk -v s="$VERSION_CODENAME" '
  /^URIs:/ { u = $2 } /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) print u } /^$/ { u = "" }' | head -1)
[ -n "$uri" ] || uri=$(grep -hsE "^deb\s" /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
  awk -v s="$VERSION_CODENAME" '{ u = ""; for (i = 2; i <= NF; i++) { if (u == "" && $i ~ /:\/\//) u = $i; else if (u != "" && $i == s) { print u; exit } } }')
[ -n "$uri" ] || { echo "fetch_lavapipe: no apt source for $VERSION_CODENAME in /etc/apt" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/parts" "$work/lists/partial" "$work/debs"
printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
  "$uri" "$suite" > "$work/parts/backports.sources"
o=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$work/parts" -o "Dir::State::Lists=$work/lists"
  -o "APT::Sandbox::User=root" -q)
apt-get "${o[@]}" update >/dev/null
(cd "$work/debs" && apt-get "${o[@]}" download mesa-vulkan-drivers >/dev/null)
rm -rf "$dest" && mkdir -p "$dest"
dpkg -x "$work"/debs/mesa-vulkan-drivers_*.deb "$work/root"
lib=$(find "$work/root" -name libvulkan_lvp.so | head -1)
[ -n "$lib" ] || { echo "fetch_lavapipe: no libvulkan_lvp.so in mesa-vulkan-drivers" >&2; exit 1; }
cp "$lib" "$dest/"
sed "s#\"library_path\": \"[^\"]*\"#\"library_path\": \"$dest/libvulkan_lvp.so\"#" \
  "$(find "$work/root" -name lvp_icd.json | head -1)" > "$icd"
echo "$icd"
