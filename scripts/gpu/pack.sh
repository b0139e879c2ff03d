#!/usr/bin/env bash
# Packs what a borrowed GPU machine needs to train with mien's own trainer when it has CUDA and PyTorch but no Node,
# no npm registry and no internet, into two folders of the repository root that .gitignore names, each under the 64 MiB a
# call may carry beside the working tree:
#   .gpu1/  node.xz (this machine's node binary), mien.tar.xz (dist bundled by esbuild into one file, the native
#           packages it loads, Node-API headers), val.tar.xz (the val split); the addon's source, models/ and
#           package.json travel in the working tree
#   .gpu2/  train.tar.xz (the training split)
# Then, on the machine, back to back (it stays started only ~30 s between calls):
#   bash scripts/gpu/setup.sh            carrying .gpu1: unpacks into .gpurt, builds the addon against the machine's
#                                        PyTorch, runs `mien info` and a short speed probe
#   bash scripts/gpu/train.sh BUDGET …   carrying .gpu2: the runs, stopped after BUDGET seconds, best models to $OUT
# Run from the repository root after `npm run build`:
#   bash scripts/gpu/pack.sh [DATA]      DATA: the FER2013 class folders (default ../shared/data/fer2013)
set -euo pipefail
DATA=$(realpath "${1:-../shared/data/fer2013}")
[ -f package.json ] && [ -f dist/cli/main.js ] || { echo "run from the repository root after npm run build" >&2; exit 2; }
rm -rf .gpu1 .gpu2 && mkdir -p .gpu1 .gpu2
node=$(readlink -f "$(command -v node)")
stage=$(mktemp -d) && trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/mien/dist" "$stage/mien/node_modules/@img" "$stage/mien/hdr"

# One ESM file: the JS dependencies inlined; the packages with native parts stay outside and travel whole (linux x64).
npx esbuild dist/cli/main.js --bundle --platform=node --format=esm --target=node20 --log-level=warning \
  --external:sharp --external:onnxruntime-node --outfile="$stage/mien/dist/mien.mjs" \
  --banner:js="import { createRequire as mienRequire } from 'node:module'; const require = mienRequire(import.meta.url);"
cp -r node_modules/sharp node_modules/detect-libc node_modules/semver node_modules/onnxruntime-common "$stage/mien/node_modules/"
for img in node_modules/@img/*; do
  if [[ $img == *-linux-x64 || $img == */colour ]]; then cp -r "$img" "$stage/mien/node_modules/@img/"; fi
done
mkdir -p "$stage/mien/node_modules/onnxruntime-node/bin/napi-v6/linux"
cp -r node_modules/onnxruntime-node/package.json node_modules/onnxruntime-node/dist "$stage/mien/node_modules/onnxruntime-node/"
cp -r node_modules/onnxruntime-node/bin/napi-v6/linux/x64 "$stage/mien/node_modules/onnxruntime-node/bin/napi-v6/linux/"
cp -r node_modules/node-addon-api "$stage/mien/node_modules/"
# Node-API's headers alone: the addon uses nothing else of Node's.
cp "$(dirname "$(dirname "$node")")"/include/node/{node_api,node_api_types,js_native_api,js_native_api_types}.h "$stage/mien/hdr/"
tar -C "$stage" -cf - mien | xz -T2 -6 >.gpu1/mien.tar.xz
xz -T2 -6 -c "$node" >.gpu1/node.xz
tar -C "$DATA" -cf - val | xz -T2 -6 >.gpu1/val.tar.xz
tar -C "$DATA" -cf - train | xz -T2 -6 >.gpu2/train.tar.xz
du -sh .gpu1 .gpu2 && du -sh --exclude=node_modules --exclude=.git --exclude=build --exclude=dist --exclude='.gpu*' .
