# syntax=docker/dockerfile:1

# Build: install everything, compile TypeScript to dist/.
FROM node:26-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Runtime: production dependencies (no install scripts), the compiled server and the policies.
FROM node:26-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    POLICY_DIR=/app/policies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
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
