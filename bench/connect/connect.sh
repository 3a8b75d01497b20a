#!/usr/bin/env bash
# Kafka Connect (standalone worker) with Debezium's JDBC sink connector, straight from Maven Central jars,
# for the benchmark's row-8 baseline (bench/measure-connect-sink.ts; README.md beside this file).
#
#   bench/connect/connect.sh fetch                      copy the worker's jars into .cache/connect/worker and
#                                                       the connector's plugin archive into .cache/connect/plugins/… (each
#                                                       skipped while its pom is unchanged)
#   bench/connect/connect.sh run WORKER CONNECTOR       fetch if needed, then exec the standalone worker in the
#                                                       foreground (this process becomes the JVM: its pid is
#                                                       the worker's); stop it with SIGTERM
#   bench/connect/connect.sh plugin-path                print the directory to give as the worker's plugin.path
#
# JVM options: Kafka's own bin/connect-standalone.sh defaults (KAFKA_HEAP_OPTS -Xms256M -Xmx2G and
# KAFKA_JVM_PERFORMANCE_OPTS), as a user running the distribution gets them; CONNECT_JAVA_OPTS adds more.
set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
ROOT="$(cd -- "$SCRIPT_DIR/../.." && pwd -P)"
DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.11.0
CACHE="$ROOT/.cache/connect"
WORKER_LIB="$CACHE/worker"
PLUGIN_PATH="$CACHE/plugins"
PLUGIN_LIB="$PLUGIN_PATH/debezium-connector-jdbc"

log() { printf '[connect] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# $1 = copy (the pom's jars) or unpack (the pom's archive, whose one top directory becomes the target),
# $2 = pom, $3 = target directory, $4 = a jar glob that must be there afterwards.
fetch_into() {
  local how="$1" pom="$2" dir="$3" expect="$4" stamp="$3/.pom.sha256" hash
  hash="$(sha256sum "$pom" | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$hash" ]] && compgen -G "$dir/$expect" >/dev/null; then
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found on PATH (needed to fetch the Connect jars)"
  local tmp="$dir.tmp.$$" mvn_log="$CACHE/fetch.log" goal=(copy-dependencies -DincludeScope=runtime)
  [[ "$how" == unpack ]] && goal=(unpack-dependencies -DexcludeTransitive=true "-DmarkersDirectory=$tmp.markers")
  rm -rf "$tmp" "$tmp.markers"
  log "fetching ${pom#"$ROOT/"} into ${dir#"$ROOT/"} ..."
  # outputDirectory must be absolute: Maven resolves a relative one against the pom's directory.
  if ! mvn -B -q -f "$pom" "$DEP_PLUGIN:${goal[0]}" "${goal[@]:1}" "-DoutputDirectory=$tmp" >"$mvn_log" 2>&1; then
    tail -n 40 "$mvn_log" >&2 || true
    rm -rf "$tmp" "$tmp.markers"
    die "maven could not fetch ${pom#"$ROOT/"} (full output: $mvn_log)"
  fi
  rm -rf "$tmp.markers"
  if [[ "$how" == unpack ]]; then
    local top=("$tmp"/*/)
    [[ ${#top[@]} -eq 1 && -d "${top[0]}" ]] || { rm -rf "$tmp"; die "the archive of ${pom#"$ROOT/"} has not one top directory"; }
    mv "${top[0]}" "$tmp.top" && rm -rf "$tmp" && mv "$tmp.top" "$tmp"
  fi
  compgen -G "$tmp/$expect" >/dev/null || { rm -rf "$tmp"; die "fetching ${pom#"$ROOT/"} produced no $expect"; }
  echo "$hash" >"$tmp/.pom.sha256"
  rm -rf "$dir"
  mv "$tmp" "$dir"
}

do_fetch() {
  mkdir -p "$CACHE" "$PLUGIN_PATH"
  exec 8>"$CACHE/.fetch.lock"
  flock -w 600 8 || die "timed out waiting for $CACHE/.fetch.lock (another fetch is running?)"
  fetch_into copy "$SCRIPT_DIR/worker-pom.xml" "$WORKER_LIB" 'connect-runtime-*.jar'
  fetch_into unpack "$SCRIPT_DIR/plugin-pom.xml" "$PLUGIN_LIB" 'debezium-connector-jdbc-*.jar'
  exec 8>&-
}

do_run() {
  [[ -f "$1" && -f "$2" ]] || die "run needs a worker and a connector properties file (got '$1', '$2')"
  command -v java >/dev/null || die "java not found on PATH (Java 17+ is needed to run Kafka Connect)"
  do_fetch
  local opts=(
    -Xms256M -Xmx2G
    -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=file:$SCRIPT_DIR/log4j2.properties"
  )
  # shellcheck disable=SC2206 # CONNECT_JAVA_OPTS is a list of options, split on spaces on purpose
  [[ -n "${CONNECT_JAVA_OPTS:-}" ]] && opts+=($CONNECT_JAVA_OPTS)
  exec java "${opts[@]}" -cp "$WORKER_LIB/*" org.apache.kafka.connect.cli.ConnectStandalone "$1" "$2"
}

case "${1:-}" in
  fetch) do_fetch ;;
  run) [[ $# -eq 3 ]] || die "usage: $(basename -- "$0") run WORKER.properties CONNECTOR.properties"; do_run "$2" "$3" ;;
  plugin-path) echo "$PLUGIN_PATH" ;;
  *) echo "usage: $(basename -- "$0") fetch|run WORKER CONNECTOR|plugin-path" >&2; exit 2 ;;
esac
