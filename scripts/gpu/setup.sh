#!/usr/bin/env bash
# On the GPU machine, carrying .gpu1 (scripts/gpu/pack.sh): unpacks node, the bundled mien and the val split into
# .gpurt, builds the training addon against the machine's PyTorch (its wheel carries libtorch) with CUDA and without
# the distributed engine, then prints `mien info` and one epoch's speed of mienet-m on the val faces.
set -euo pipefail
[ -d .gpu1 ] || { echo "carry .gpu1 (bash scripts/gpu/pack.sh)" >&2; exit 2; }
rm -rf .gpurt && mkdir -p .gpurt/bin .gpurt/data
xz -dc .gpu1/node.xz >.gpurt/bin/node && chmod +x .gpurt/bin/node
tar -C .gpurt -xJf .gpu1/mien.tar.xz
cp -r package.json addon models .gpurt/mien/ && mkdir -p .gpurt/mien/scripts && cp scripts/build-addon.mjs .gpurt/mien/scripts/
tar -C .gpurt/data -xJf .gpu1/val.tar.xz
export PATH=$PWD/.gpurt/bin:$PATH
node -v

# MIEN_LIBTORCH, MIEN_TORCH_CXX11_ABI and MIEN_DEVICE=cpu try this script on a machine without PyTorch or a GPU.
torch=${MIEN_LIBTORCH:-$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')}
abi=${MIEN_TORCH_CXX11_ABI:-$(python3 -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')}
device=${MIEN_DEVICE:-cuda}
cuda=$([ -f "$torch/lib/libtorch_cuda.so" ] && echo 1 || echo 0)
cd .gpurt/mien
mkdir -p build/Release
# Only the lists build-addon.mjs prints for this libtorch, with the distributed engine left out: one GPU needs none.
print() { MIEN_LIBTORCH=$torch MIEN_TORCH_CXX11_ABI=$abi node scripts/build-addon.mjs --print "$1"; }
mapfile -t includes < <(print include_dirs)
mapfile -t libraries < <(print libraries)
mapfile -t ldflags < <(print ldflags)
flags=(-shared -fPIC -O2 -fexceptions -frtti -Wno-unused-parameter -DNAPI_VERSION=8 -DNODE_ADDON_API_CPP_EXCEPTIONS
  -DNODE_ADDON_API_DISABLE_DEPRECATED "-DMIEN_WITH_CUDA=$cuda" -DMIEN_WITH_C10D=0 -DMIEN_WITH_GLOO=0 -DMIEN_WITH_NCCL=0
  "-D_GLIBCXX_USE_CXX11_ABI=$abi" -Ihdr -Inode_modules/node-addon-api "${includes[@]/#/-I}")
# Newer PyTorch headers may want C++20: both standards compile side by side and the first that succeeds is kept.
g++ -std=c++17 "${flags[@]}" addon/mien_torch.cc -o build/Release/cxx17.node "${libraries[@]}" "${ldflags[@]}" 2>build/cxx17.log &
g++ -std=c++20 "${flags[@]}" addon/mien_torch.cc -o build/Release/cxx20.node "${libraries[@]}" "${ldflags[@]}" 2>build/cxx20.log &
wait || true
for std in cxx17 cxx20; do
  [ -f "build/Release/$std.node" ] && { mv "build/Release/$std.node" build/Release/mien_torch.node; echo "addon built ($std)"; break; }
done
[ -f build/Release/mien_torch.node ] || { tail -30 build/cxx17.log build/cxx20.log; exit 1; }
cd ../..
mien() { node .gpurt/mien/dist/mien.mjs "$@"; }
mien info
mien train --data .gpurt/data/val --arch mienet-m --epochs 1 --val-fraction 0.1 --device "$device" --out .gpurt/probe 2>&1 | grep -E 'epoch|rror'
nvidia-smi --query-gpu=name,memory.used,utilization.gpu --format=csv 2>/dev/null || true
