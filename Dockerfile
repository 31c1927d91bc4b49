# syntax=docker/dockerfile:1
# Latch: multi-stage build on the current Node.js LTS, running as the unprivileged `node` user.
ARG NODE_VERSION=24

# Production dependencies only (argon2 ships prebuilt binaries; no compiler needed).
FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# Type-check everything with the dev dependencies, then compile the server to JavaScript
# (dist/server): the image runs plain JavaScript, without the tsx loader, as `npm start` does.
FROM node:${NODE_VERSION}-bookworm-slim AS check
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.server.json ./
COPY lib ./lib
COPY adapters ./adapters
COPY migrations ./migrations
COPY scripts ./scripts
COPY examples ./examples
COPY bench ./bench
COPY test ./test
RUN npm run typecheck && npm run build:server

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
# Each argon2id hash takes 19 MiB. Above glibc's default mmap threshold that memory is
# returned when the hash ends; once the threshold adapts upwards (it does after the first
# large free) it stays in the heap, and RSS grows by 19 MiB per libuv thread that ever hashed.
# A fixed threshold keeps large allocations in mmap (bench: RSS 278 MB -> 194 MB after sign-ins).
# Mapping 19 MiB afresh in 4 KiB pages costs 4,864 page faults per hash (11 ms of system CPU
# on a 22 ms hash); glibc.malloc.hugetlb=1 asks for transparent huge pages on those mappings
# (used where the host's THP mode is madvise or always), which brings it to about 3 ms.
ENV NODE_ENV=production \
    PORT=3000 \
    LATCH_DATA_DIR=/data \
    MALLOC_MMAP_THRESHOLD_=131072 \
    GLIBC_TUNABLES=glibc.malloc.hugetlb=1
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=check /app/dist/server ./dist/server
COPY package.json package-lock.json tsconfig.json ./
COPY lib ./lib
COPY adapters ./adapters
COPY migrations ./migrations
COPY scripts ./scripts
COPY views ./views
RUN mkdir -p /data && chown node:node /data && ln -s /app/scripts/latch.js /usr/local/bin/latch
USER node
EXPOSE 3000
VOLUME ["/data"]
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# SIGTERM reaches node directly (exec form), which drains requests and exits.
# Semi-spaces of 16 MB, Node 20's and 22's default: Node 24 sizes them from the heap limit
# (64 MB each with 24 GiB), which put Latch at 297-327 MB after the bench's scenarios 1-3
# where 16 MB gave 227-243 MB.
CMD ["node", "--max-semi-space-size=16", "dist/server/lib/main.js"]
