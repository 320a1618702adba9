#!/usr/bin/env bash
# Installs the optional WebGPU backend (learn/webgpu.ts): Dawn's Node binding and the tfjs WebGPU
# backend, pinned, without touching package.json (Dawn's package is ≈ 50 MB for all platforms, so
# it is not a dependency). Needs a GPU with a Vulkan (Linux), Metal or D3D12 driver to be useful.
# Then: THERMOSTAT_TF_BACKEND=webgpu, or `npx thermostat bench` reports the webgpu entry.
set -euo pipefail
cd "$(dirname "$0")/.."
if node -e "import('webgpu').then(() => import('@tensorflow/tfjs-backend-webgpu'))" 2>/dev/null; then
  echo "webgpu: already installed"
  exit 0
fi
CKJS_LINKING=dynamic npm install --no-save --no-audit --no-fund webgpu@0.6.2 @tensorflow/tfjs-backend-webgpu@4.22.0
