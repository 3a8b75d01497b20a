#!/usr/bin/env bash
# A real schema registry for tests: Apicurio Registry (its Confluent-compatible API is under
# /apis/ccompat/v7) with in-memory storage, straight from Maven Central (no Docker). The version is
# pinned in test/schema-registry/pom.xml.
#
#   scripts/schema-registry.sh fetch   unpack the distribution into .cache/schema-registry/dist (skipped when present)
#   scripts/schema-registry.sh start   fetch if needed, start in background, wait until the API answers;
#                                      prints the Confluent-compatible base URL on stdout
#   scripts/schema-registry.sh stop    SIGTERM, wait for exit (idempotent)
#
# Environment:
#   SCHEMA_REGISTRY_PORT       HTTP port on 127.0.0.1 (default 18081)
#   SCHEMA_REGISTRY_STATE_DIR  pid and log (default .cache/schema-registry/run); one per registry
#   SCHEMA_REGISTRY_TLS_PORT   with SCHEMA_REGISTRY_TLS_CERT and SCHEMA_REGISTRY_TLS_KEY (PEM files):
#                              also serve HTTPS on this port
set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
ROOT="$(cd -- "$SCRIPT_DIR/.." && pwd -P)"

HOST=127.0.0.1
PORT="${SCHEMA_REGISTRY_PORT:-18081}"
DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.11.0
POM="$ROOT/test/schema-registry/pom.xml"
DIST="$ROOT/.cache/schema-registry/dist"
STAMP="$DIST/.pom.sha256"
FETCH_LOCK="$ROOT/.cache/schema-registry/.fetch.lock"
STATE="${SCHEMA_REGISTRY_STATE_DIR:-$ROOT/.cache/schema-registry/run}"
PID_FILE="$STATE/registry.pid"
LOG_FILE="$STATE/registry.log"
START_TIMEOUT="${SCHEMA_REGISTRY_START_TIMEOUT:-90}"
STOP_TIMEOUT=20

log() { printf '[schema-registry] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

pom_hash() { sha256sum "$POM" | cut -d' ' -f1; }
runner_jar() { compgen -G "$DIST/apicurio-registry-app-*-runner.jar" | head -n 1; }

do_fetch() {
  mkdir -p "$(dirname "$DIST")"
  exec 8>"$FETCH_LOCK"
  flock -w 600 8 || die "timed out waiting for $FETCH_LOCK"
  if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$(pom_hash)" && -n "$(runner_jar)" ]]; then
    exec 8>&-
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found on PATH (needed to fetch the registry)"
  local tmp="$DIST.tmp.$$" mvn_log
  mvn_log="$(dirname "$DIST")/fetch.log"
  rm -rf "$tmp"
  log "fetching Apicurio Registry with Maven into ${DIST#"$ROOT/"} ..."
  if ! mvn -B -q -f "$POM" "$DEP_PLUGIN:unpack-dependencies" -DexcludeTransitive=true "-DoutputDirectory=$tmp" "-DmarkersDirectory=$tmp.markers" >"$mvn_log" 2>&1; then
    tail -n 40 "$mvn_log" >&2 || true
    rm -rf "$tmp" "$tmp.markers"
    die "maven could not fetch ${POM#"$ROOT/"} (full output: $mvn_log)"
  fi
  compgen -G "$tmp/apicurio-registry-app-*-runner.jar" >/dev/null || { rm -rf "$tmp"; die "the distribution has no runner jar"; }
  pom_hash >"$tmp/.pom.sha256"
  rm -rf "$DIST" "$tmp.markers"
  mv "$tmp" "$DIST"
  exec 8>&-
}

running_pid() {
  [[ -f "$PID_FILE" ]] || return 0
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 0
  [[ "$(ps -o args= -p "$pid" 2>/dev/null || true)" == *apicurio-registry-app* ]] && echo "$pid"
  return 0
}

answers() { curl -fsS -m 2 -o /dev/null "http://$HOST:$PORT/apis/ccompat/v7/subjects" 2>/dev/null; }

do_start() {
  local pid
  pid="$(running_pid)"
  if [[ -n "$pid" ]]; then
    answers || die "registry pid $pid is running but does not answer on $HOST:$PORT; run '$0 stop' first"
    echo "http://$HOST:$PORT/apis/ccompat/v7"
    return 0
  fi
  command -v java >/dev/null || die "java not found on PATH"
  do_fetch
  mkdir -p "$STATE"
  local opts=(-Xms64m -Xmx384m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError
    "-Dquarkus.http.host=$HOST" "-Dquarkus.http.port=$PORT")
  if [[ -n "${SCHEMA_REGISTRY_TLS_PORT:-}" ]]; then
    [[ -f "${SCHEMA_REGISTRY_TLS_CERT:-}" && -f "${SCHEMA_REGISTRY_TLS_KEY:-}" ]] || die "SCHEMA_REGISTRY_TLS_PORT needs SCHEMA_REGISTRY_TLS_CERT and SCHEMA_REGISTRY_TLS_KEY"
    opts+=("-Dquarkus.http.ssl-port=$SCHEMA_REGISTRY_TLS_PORT" "-Dquarkus.http.ssl.certificate.files=$SCHEMA_REGISTRY_TLS_CERT"
      "-Dquarkus.http.ssl.certificate.key-files=$SCHEMA_REGISTRY_TLS_KEY")
  fi
  # setsid: the registry outlives this script (the test that started it stops it).
  setsid java "${opts[@]}" -jar "$(runner_jar)" >"$LOG_FILE" 2>&1 < /dev/null &
  echo $! >"$PID_FILE"
  local deadline=$((SECONDS + START_TIMEOUT))
  until answers; do
    if ! kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
      tail -n 40 "$LOG_FILE" >&2 || true
      die "the registry exited during startup (log: $LOG_FILE)"
    fi
    ((SECONDS < deadline)) || { tail -n 40 "$LOG_FILE" >&2 || true; die "no answer on $HOST:$PORT after ${START_TIMEOUT}s"; }
    sleep 0.3
  done
  echo "http://$HOST:$PORT/apis/ccompat/v7"
}

do_stop() {
  local pid
  pid="$(running_pid)"
  if [[ -n "$pid" ]]; then
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + STOP_TIMEOUT))
    while kill -0 "$pid" 2>/dev/null; do
      ((SECONDS < deadline)) || { kill -KILL "$pid" 2>/dev/null || true; break; }
      sleep 0.2
    done
  fi
  rm -f "$PID_FILE"
}

case "${1:-}" in
  fetch) do_fetch ;;
  start) do_start ;;
  stop) do_stop ;;
  *) echo "usage: $(basename -- "$0") fetch|start|stop" >&2; exit 2 ;;
esac
