# syntax=docker/dockerfile:1

# Build: install everything, compile TypeScript and bundle the programs into dist/.
FROM node:26.12.1-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json rolldown.config.ts ./
COPY src ./src
RUN npm run build

# Runtime: the bundled programs (they hold their dependencies: no node_modules) with the
# licenses of those dependencies, package.json (which makes their .js files ES modules) and the
# policies.
FROM node:26.12.1-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    POLICY_DIR=/app/policies
WORKDIR /app
COPY package.json ./
COPY --from=build /app/dist/main.js /app/dist/healthcheck.js /app/dist/THIRD-PARTY-NOTICES.txt ./dist/
COPY --from=build /app/dist/cli/main.js ./dist/cli/
COPY --from=build /app/dist/chunks ./dist/chunks
COPY policies ./policies
# Files stay root-owned and read-only to the service; nothing is written at run time,
# so the container runs with a read-only root file system (docker run --read-only).
# The node user by number: Kubernetes' runAsNonRoot can only verify a numeric user.
USER 1000:1000
EXPOSE 8080
# GET /healthz where HOST and PORT say the service listens (loopback for 0.0.0.0 and ::).
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["node", "dist/healthcheck.js"]
# On SIGTERM the service drains for up to SHUTDOWN_TIMEOUT_MS (10 s), then exits within 1 s:
# give the runtime a longer grace than Docker's default 10 s (docker run --stop-timeout 15).
CMD ["node", "dist/main.js"]
