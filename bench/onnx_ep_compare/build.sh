#!/usr/bin/env bash
# Builds onnx_ep_compare against ONNX Runtime's GPU build for Linux (NuGet Microsoft.ML.OnnxRuntime.Gpu.Linux, whose CUDA
# provider needs CUDA 13: cuBLAS 13, cudart 13, cuRAND 10, cuDNN 9) into OUT_DIR, with the native libraries beside it.
# Usage: bash bench/onnx_ep_compare/build.sh OUT_DIR [ORT_VERSION]      (needs g++, curl, unzip)
# Then, on a machine with an NVIDIA GPU and those CUDA libraries on LD_LIBRARY_PATH:
#   OUT_DIR/onnx_ep_compare MANIFEST [RUNS]    (MANIFEST from `DetSharp.Bench onnx-inputs`; see bench/README.md)
set -euo pipefail
out="${1:?usage: build.sh OUT_DIR [ORT_VERSION]}"
version="${2:-1.32.0}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$out"
pkg="$out/ort-gpu-linux.$version.nupkg"
[[ -f "$pkg" ]] || curl -sSfL -o "$pkg" "https://api.nuget.org/v3-flatcontainer/microsoft.ml.onnxruntime.gpu.linux/$version/microsoft.ml.onnxruntime.gpu.linux.$version.nupkg"
unzip -oqj "$pkg" 'runtimes/linux-x64/native/libonnxruntime.so' 'runtimes/linux-x64/native/libonnxruntime_providers_shared.so' \
  'runtimes/linux-x64/native/libonnxruntime_providers_cuda.so' -d "$out"
unzip -oq "$pkg" 'buildTransitive/native/include/*' -d "$out/ort"
ln -sf libonnxruntime.so "$out/libonnxruntime.so.1"
g++ -O2 -std=c++17 -Wall -Wextra -I"$out/ort/buildTransitive/native/include" "$here/onnx_ep_compare.cpp" -o "$out/onnx_ep_compare" \
  -L"$out" -lonnxruntime -Wl,-rpath,'$ORIGIN'
echo "built $out/onnx_ep_compare (ONNX Runtime $version)"
