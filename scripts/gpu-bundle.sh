#!/usr/bin/env bash
# Packs what the allocation bench needs to run on a GPU machine that has no Node, no npm registry
# and no internet (the device machine of our workplace): Node itself, the bench and its scoring
# thread as two ESM bundles, and only the packages that must be resolved at run time (tfjs-core and
# tfjs-backend-cpu stay external so the webgpu backend, imported by name, registers with the same
# engine). Output: .gpu/ (ignored by git, < 64 MiB). Run there with: bash .gpu/run.sh [bench args].
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=.gpu
NM=node_modules
[ -d "$NM/webgpu" ] && [ -d "$NM/@tensorflow/tfjs-backend-webgpu" ] || bash scripts/webgpu.sh
rm -rf "$OUT" && mkdir -p "$OUT/app/node_modules/@tensorflow" "$OUT/app/node_modules/webgpu/dist/linux-x64"
ext=(--external:@tensorflow/tfjs-core --external:@tensorflow/tfjs-backend-cpu --external:webgpu
  --external:@tensorflow/tfjs-backend-webgpu --external:@tensorflow/tfjs-node-gpu)
# CommonJS inside an ESM bundle (tfjs's Emscripten glue) expects require and __dirname.
banner="import { createRequire as __cr } from 'node:module'; import { fileURLToPath as __fu } from 'node:url';
import { dirname as __dn } from 'node:path'; const require = __cr(import.meta.url);
const __filename = __fu(import.meta.url); const __dirname = __dn(__filename);"
# Both bundles in one folder: the scoring pool starts ./alloc-scorer-worker.js beside itself.
"$NM/.bin/esbuild" bench/alloc-bench.ts --bundle --platform=node --format=esm --target=node20 \
  "${ext[@]}" --outfile="$OUT/app/alloc-bench.mjs" \
  --banner:js="$banner" --log-level=warning
"$NM/.bin/esbuild" learn/alloc-scorer-worker.ts --bundle --platform=node --format=esm --target=node20 \
  "${ext[@]}" --outfile="$OUT/app/alloc-scorer-worker.js" \
  --banner:js="$banner" --log-level=warning
echo '{"type":"module"}' > "$OUT/app/package.json"
copy() { mkdir -p "$OUT/app/node_modules/$(dirname "$1")" && cp -r "$NM/$1" "$OUT/app/node_modules/$1"; }
for p in tfjs-core tfjs-backend-cpu tfjs-backend-webgpu; do
  main=$(node -p "require('./$NM/@tensorflow/$p/package.json').main")
  mkdir -p "$OUT/app/node_modules/@tensorflow/$p/$(dirname "$main")"
  cp "$NM/@tensorflow/$p/package.json" "$OUT/app/node_modules/@tensorflow/$p/"
  cp "$NM/@tensorflow/$p/$main" "$OUT/app/node_modules/@tensorflow/$p/$main"
done
mkdir -p "$OUT/app/node_modules/@tensorflow/tfjs-backend-wasm/dist"
cp "$NM/@tensorflow/tfjs-backend-wasm/package.json" "$OUT/app/node_modules/@tensorflow/tfjs-backend-wasm/"
cp "$NM"/@tensorflow/tfjs-backend-wasm/dist/*.wasm "$OUT/app/node_modules/@tensorflow/tfjs-backend-wasm/dist/"
for p in seedrandom node-fetch whatwg-url tr46 webidl-conversions; do [ -d "$NM/$p" ] && copy "$p"; done
cp "$NM/webgpu/package.json" "$NM/webgpu/index.js" "$OUT/app/node_modules/webgpu/"
cp "$NM/webgpu/dist/linux-x64/dawn.node" "$OUT/app/node_modules/webgpu/dist/linux-x64/"
tar -C "$OUT" -cf - app | xz -T2 -6 > "$OUT/app.tar.xz" && rm -rf "$OUT/app"
xz -T2 -6 -c "$(command -v node)" > "$OUT/node.xz"
# Dawn needs the Vulkan loader, and NVIDIA's Vulkan ICD (libGLX_nvidia) needs glvnd's dispatch
# libraries: a bare CUDA image may have the driver but neither.
(cd "$OUT" && apt-get download libvulkan1 libglvnd0 libglx0 libegl1 libgl1 libopengl0 >/dev/null 2>&1) ||
  echo "no Vulkan/glvnd .debs (apt-get download failed): the target must have libvulkan.so.1 and libGLdispatch"
cat > "$OUT/run.sh" <<'RUN'
#!/usr/bin/env bash
# Unpacks Node and the bench into /tmp/gpu and runs the allocation bench (args passed through).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p /tmp/gpu && cd /tmp/gpu
[ -x node ] || { xz -dc "$here/node.xz" > node && chmod +x node; }
[ -d app ] || xz -dc "$here/app.tar.xz" | tar xf -
# The loader and glvnd libraries from the .debs beside this script, unpacked here (never into /).
if ls "$here"/*.deb >/dev/null 2>&1; then
  [ -d libs ] || for d in "$here"/*.deb; do dpkg -x "$d" libs; done
  export LD_LIBRARY_PATH=/tmp/gpu/libs/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
# The NVIDIA container layout keeps its Vulkan ICD outside the loader's default search path.
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] && [ -z "${VK_DRIVER_FILES:-}" ] && export VK_DRIVER_FILES=$icd
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
exec ./node ${NODE_ARGS:-} app/alloc-bench.mjs "$@"
RUN
du -sh "$OUT"/*
