# syntax=docker/dockerfile:1
# Thermostat container image: multi-stage, production dependencies only, non-root.
#   docker build --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ) -t REGISTRY/thermostat:0.1.0 .
#   GPU: --build-arg WEBGPU=true (the measured WebGPU path, the chart's gpu.backend webgpu), or
#        --build-arg TFJS_GPU=true --build-arg NODE_IMAGE=<Node 22 + CUDA 11.x/cuDNN 8 base>
# The build stage compiles the native Kafka client (@confluentinc/kafka-javascript) against the
# system libraries (CKJS_LINKING=dynamic), so the runtime stage needs their runtime packages only.
# Not built in this repository's CI (no container engine there); see docs/DEPLOY.md.

# Node.js 22 LTS on Debian 12, pinned by the multi-arch index digest of node:22.23.3-bookworm-slim.
# Bump the tag and the digest together (docker buildx imagetools inspect node:22-bookworm-slim).
ARG NODE_IMAGE=node:22.23.3-bookworm-slim@sha256:43ac6c60b8f89723f746e8a92ce91abd5017e627ce1ddfe4238355d3a30b772c

# ---- build --------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build
# true: keep the optional @tensorflow/tfjs-node-gpu (its install downloads libtensorflow; it needs
# CUDA at run time). false: the learned scorer runs on the WASM backend (or WebGPU, below).
ARG TFJS_GPU=false
# true: add Dawn's Node binding and the tfjs WebGPU backend (scripts/webgpu.sh), for
# THERMOSTAT_TF_BACKEND=webgpu on a GPU with a Vulkan driver.
ARG WEBGPU=false
# Unpinned on purpose: Debian stable's security updates, fixed by the base image digest.
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential python3 ca-certificates \
      libcurl4-openssl-dev libssl-dev libsasl2-dev zlib1g-dev libzstd-dev liblz4-dev \
 && rm -rf /var/lib/apt/lists/*
ENV CKJS_LINKING=dynamic \
    npm_config_nodedir=/usr/local
WORKDIR /app
COPY package.json package-lock.json ./
RUN if [ "$TFJS_GPU" = true ]; then npm ci --no-audit --no-fund; \
    else npm ci --no-audit --no-fund --omit=optional; fi
COPY . .
# After the prune: prune removes packages installed with --no-save. NODE_ENV=production keeps the
# dev dependencies out of that install.
RUN npm run build \
 && find schemas \( -name '*.avsc' -o -name '*.json' \) -exec cp --parents {} dist/ \; \
 && if [ "$TFJS_GPU" = true ]; then npm prune --omit=dev; else npm prune --omit=dev --omit=optional; fi \
 && if [ "$WEBGPU" = true ]; then \
      if [ "$TFJS_GPU" = true ]; then NODE_ENV=production bash scripts/webgpu.sh; \
      else NODE_ENV=production npm_config_omit=optional bash scripts/webgpu.sh; fi; \
    fi \
 && npm cache clean --force

# ---- runtime ------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ARG WEBGPU=false
ARG NODE_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=""
LABEL org.opencontainers.image.title="thermostat" \
      org.opencontainers.image.description="Stream-processing job that regulates heating (boosted traffic for new and under-exposed content) in a recommender system." \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="${NODE_IMAGE}"
# libvulkan1: the Vulkan loader Dawn opens; the NVIDIA runtime mounts the driver's ICD into the
# container when NVIDIA_DRIVER_CAPABILITIES includes "graphics" (the chart sets it).
# hadolint ignore=DL3008
RUN vulkan=""; if [ "$WEBGPU" = true ]; then vulkan=libvulkan1; fi \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libcurl4 libssl3 libsasl2-2 libsasl2-modules zlib1g libzstd1 liblz4-1 $vulkan \
 && rm -rf /var/lib/apt/lists/*
# THERMOSTAT_REVISION: the thermostat_build_info revision label (core/build-info.ts).
ENV NODE_ENV=production \
    THERMOSTAT_USE_DIST=1 \
    THERMOSTAT_REVISION=${REVISION}
WORKDIR /app
# Owned by root and read-only for the runtime user: the pod runs with a read-only root filesystem.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/schemas ./schemas
# The node image's unprivileged "node" user, by number so runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 9464
# For `docker run` and Compose (Kubernetes ignores it and uses the chart's probes): /healthz of the
# `run` command on THERMOSTAT_HTTP_PORT. Other subcommands serve no HTTP and report unhealthy.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.THERMOSTAT_HTTP_PORT || 9464) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "bin/thermostat.mjs"]
CMD ["run"]
