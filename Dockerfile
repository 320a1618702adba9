# syntax=docker/dockerfile:1
# Thermostat container image: multi-stage, production dependencies only, non-root.
#   docker build -t REGISTRY/thermostat:0.1.0 .
#   docker build --build-arg TFJS_GPU=true --build-arg NODE_IMAGE=<Node 20 + CUDA 11.x/cuDNN 8 base> ...
# The build stage compiles the native Kafka client (@confluentinc/kafka-javascript) against the
# system libraries (CKJS_LINKING=dynamic), so the runtime stage needs their runtime packages only.
# Not built in this repository's CI (no container engine there); see docs/DEPLOY.md.
ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build --------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build
# true: keep the optional @tensorflow/tfjs-node-gpu (its install downloads libtensorflow; it needs
# CUDA at run time). false: the system agent runs on the WASM backend.
ARG TFJS_GPU=false
# Unpinned on purpose: Debian stable's security updates, fixed by the base image tag.
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
RUN npm run build \
 && find schemas \( -name '*.avsc' -o -name '*.json' \) -exec cp --parents {} dist/ \; \
 && if [ "$TFJS_GPU" = true ]; then npm prune --omit=dev; else npm prune --omit=dev --omit=optional; fi \
 && npm cache clean --force

# ---- runtime ------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libcurl4 libssl3 libsasl2-2 libsasl2-modules zlib1g libzstd1 liblz4-1 \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    THERMOSTAT_USE_DIST=1
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
ENTRYPOINT ["node", "bin/thermostat.mjs"]
CMD ["run"]
