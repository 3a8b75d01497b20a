# rebuild-projection as a container: `docker build -t rebuild-projection .`, then
#   docker run --rm -e DATABASE_URL=… -e KAFKA_BROKERS=… -p 9464:9464 rebuild-projection agentk-states --follow --metrics-port 9464
# Two stages: the build has the dev dependencies (TypeScript); the runtime only the production ones and dist/.

FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src src
COPY projections projections
COPY demo demo
RUN npm run build

FROM node:20-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist dist
# Read at run time: the Avro catalog, our migrations, GitLab's table definition.
COPY schemas schemas
# --demo's data (its events and GitLab's tables), read at run time.
COPY demo demo
# The image's own unprivileged user (uid 1000); nothing here needs root, and the files stay root-owned (read-only to it).
USER node
# --metrics-port, by convention (compose, README); nothing listens unless the flag is given.
EXPOSE 9464
# Node handles SIGTERM itself (a graceful stop within --shutdown-timeout), so it can run as PID 1. The node flags are
# the bin's own (its shebang, src/cli/bin-flags.ts; the compose test checks they are the same).
ENTRYPOINT ["node", "--max-semi-space-size=2", "dist/src/cli/main.js"]
CMD ["--help"]
