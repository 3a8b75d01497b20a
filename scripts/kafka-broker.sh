#!/usr/bin/env bash
# A real single-node Apache Kafka (KRaft) broker for tests and local runs, straight from Maven
# Central jars (no Docker). Recipe: shared/kafka-broker.md. Kafka version is pinned in
# test/kafka/pom.xml.
#
#   scripts/kafka-broker.sh fetch    copy the jars into .cache/kafka/lib (skipped when present)
#   scripts/kafka-broker.sh start    fetch if needed, format a fresh data dir, start in background,
#                                    wait until 127.0.0.1:$KAFKA_PORT accepts connections (idempotent);
#                                    prints the broker address on stdout
#   scripts/kafka-broker.sh stop     SIGTERM, wait for exit, remove the data dir (idempotent)
#   scripts/kafka-broker.sh pause    SIGTERM, wait for exit, KEEP the data dir (a broker outage)
#   scripts/kafka-broker.sh resume   start again on the data dir kept by 'pause'
#   scripts/kafka-broker.sh status   exit 0 and print details if running, exit 3 if not
#
# Environment (the one place the broker's ports are set; the template and the tests read them from here):
#   KAFKA_PORT             the client listener's port (default 19092)
#   KAFKA_CONTROLLER_PORT  the KRaft controller's port (default KAFKA_PORT + 1)
#   KAFKA_STATE_DIR        where this broker keeps its pid, data and log (default .cache/kafka): a second
#                          broker (e.g. the fault suite's, which it stops and restarts) needs its own
#   KAFKA_START_TIMEOUT    seconds to wait for the port after launching (default 90)
#   KAFKA_STOP_TIMEOUT     seconds to wait after SIGTERM before SIGKILL (default 30)
#   KAFKA_SERVER_TEMPLATE  another server.properties template (default test/kafka/server.properties.template),
#                          e.g. with TLS and SASL listeners besides the PLAINTEXT one on KAFKA_PORT
#   KAFKA_FORMAT_ARGS_FILE extra arguments for kafka-storage format, one per line (e.g. --add-scram and its
#                          value: SCRAM users must exist before a KRaft broker starts)
#
# The broker's stdout/stderr (log4j2 at WARN, test/kafka/log4j2.properties) goes to
# $KAFKA_STATE_DIR/broker.log, which is kept after stop for debugging.
set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
ROOT="$(cd -- "$SCRIPT_DIR/.." && pwd -P)"

HOST=127.0.0.1
PORT="${KAFKA_PORT:-19092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((PORT + 1))}"
CLUSTER_ID=4L6g3nShT-eMCtK--X86sw
DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.11.0

KAFKA_DIR="$ROOT/test/kafka"
POM="$KAFKA_DIR/pom.xml"
TEMPLATE="${KAFKA_SERVER_TEMPLATE:-$KAFKA_DIR/server.properties.template}"
LOG4J2_CONFIG="$KAFKA_DIR/log4j2.properties"

# The jars are shared by every broker; the state (pid, data, log) is per broker.
LIB="$ROOT/.cache/kafka/lib"
LIB_LOCK_FILE="$ROOT/.cache/kafka/.lib.lock"
STAMP="$LIB/.pom.sha256"
CACHE="${KAFKA_STATE_DIR:-$ROOT/.cache/kafka}"
PID_FILE="$CACHE/broker.pid"
DATA_FILE="$CACHE/broker.datadir"
LOG_FILE="$CACHE/broker.log"
LOCK_FILE="$CACHE/.lock"

START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"

JAVA_OPTS=(
  -Xms256m -Xmx512m
  -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError
  -Djava.awt.headless=true
  "-Dlog4j2.configurationFile=file:$LOG4J2_CONFIG"
)

log() { printf '[kafka-broker] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

usage() {
  cat >&2 <<EOF
usage: $(basename -- "$0") fetch|start|stop|pause|resume|status
EOF
  exit 2
}

# Serialise fetch/start/stop between concurrent invocations (e.g. two test runs).
take_lock() {
  mkdir -p "$CACHE"
  exec 9>"$LOCK_FILE"
  if ! flock -w 300 9; then
    die "timed out waiting for $LOCK_FILE (another kafka-broker.sh is running?)"
  fi
}

pom_hash() { sha256sum "$POM" | cut -d' ' -f1; }

jars_present() {
  [[ -f "$STAMP" ]] && [[ "$(cat "$STAMP")" == "$(pom_hash)" ]] \
    && compgen -G "$LIB/kafka_2.13-*.jar" >/dev/null
}

do_fetch() {
  mkdir -p "$(dirname "$LIB")"
  exec 8>"$LIB_LOCK_FILE"
  flock -w 600 8 || die "timed out waiting for $LIB_LOCK_FILE (another fetch is running?)"
  if jars_present; then
    log "jars already in ${LIB#"$ROOT/"} (pom unchanged); skipping fetch"
    exec 8>&-
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found on PATH (needed to fetch the Kafka jars)"
  local tmp="$LIB.tmp.$$"
  rm -rf "$tmp"
  log "fetching Kafka jars with Maven into ${LIB#"$ROOT/"} ..."
  local started=$SECONDS
  # Maven's output goes to a file (shown on failure): stdout of 'start' is the broker address.
  local mvn_log="$(dirname "$LIB")/fetch.log"
  if ! mvn -B -q -f "$POM" "$DEP_PLUGIN:copy-dependencies" \
      "-DoutputDirectory=$tmp" -DincludeScope=runtime >"$mvn_log" 2>&1; then
    tail -n 40 "$mvn_log" >&2 || true
    rm -rf "$tmp"
    die "maven could not fetch the jars listed in ${POM#"$ROOT/"} (full output: $mvn_log)"
  fi
  compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null || { rm -rf "$tmp"; die "fetch produced no kafka_2.13 jar"; }
  pom_hash >"$tmp/.pom.sha256"
  rm -rf "$LIB"
  mv "$tmp" "$LIB"
  log "fetched $(find "$LIB" -name '*.jar' | wc -l) jars in $((SECONDS - started))s"
  # Released here: a broker started after the fetch must not inherit (and hold) the lock.
  exec 8>&-
}

# Prints the pid of our running broker, or nothing. Verifies the pid really is a kafka.Kafka JVM
# (guards against a stale pid file whose pid was reused).
running_pid() {
  [[ -f "$PID_FILE" ]] || return 0
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  alive "$pid" || return 0
  local args
  args="$(ps -o args= -p "$pid" 2>/dev/null || true)"
  if [[ "$args" == *" kafka.Kafka "* ]]; then
    echo "$pid"
  fi
}

port_open() {
  # Loopback connects either succeed or are refused at once; timeout guards anything odd.
  timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null
}

# Removes a data dir recorded by a broker that is no longer running, plus orphaned ones.
clean_stale() {
  rm -f "$PID_FILE" "$DATA_FILE"
  local d
  for d in "$CACHE"/data-*; do
    [[ -e "$d" ]] || continue
    rm -rf -- "$d"
  done
}

log_tail() {
  if [[ -f "$LOG_FILE" ]]; then
    log "last 60 lines of ${LOG_FILE#"$ROOT/"}:"
    tail -n 60 "$LOG_FILE" >&2 || true
  else
    log "(no broker log at $LOG_FILE)"
  fi
}

# True while the pid exists and is not a zombie (an exited broker whose new parent, after our
# shell exited, has not reaped it yet).
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  local stat
  stat="$(ps -o stat= -p "$1" 2>/dev/null || true)"
  [[ -n "$stat" && "$stat" != Z* ]]
}

# SIGTERM the pid and wait for it to exit; SIGKILL after STOP_TIMEOUT.
terminate() {
  local pid="$1"
  kill -TERM "$pid" 2>/dev/null || return 0
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while alive "$pid"; do
    if ((SECONDS >= deadline)); then
      log "broker pid $pid still alive ${STOP_TIMEOUT}s after SIGTERM; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.2
  done
}

# $1 = fresh: format a new data dir; kept: reuse the one 'pause' left.
do_start() {
  local mode="$1" pid
  pid="$(running_pid)"
  if [[ -n "$pid" ]]; then
    if port_open "$PORT"; then
      log "already running (pid $pid) on $HOST:$PORT"
      echo "$HOST:$PORT"
      return 0
    fi
    die "broker pid $pid is running but $HOST:$PORT does not accept connections; run '$0 stop' first"
  fi
  local kept=""
  if [[ "$mode" == kept ]]; then
    kept="$(cat "$DATA_FILE" 2>/dev/null || true)"
    [[ -n "$kept" && -f "$kept/server.properties" ]] || die "no data dir kept by 'pause' in ${CACHE#"$ROOT/"}; use 'start'"
    rm -f "$PID_FILE"
  else
    clean_stale
  fi

  local p
  for p in "$PORT" "$CONTROLLER_PORT"; do
    if port_open "$p"; then
      die "port $HOST:$p is already in use by another process (not a broker started by this script)"
    fi
  done

  command -v java >/dev/null || die "java not found on PATH (Java 17+ is needed to run Kafka)"
  do_fetch

  local data cp="$LIB/*"
  if [[ -n "$kept" ]]; then
    data="$kept"
    log "resuming on ${data#"$ROOT/"}"
  else
    data="$(mktemp -d "$CACHE/data-XXXXXXXX")"
    echo "$data" >"$DATA_FILE"
    mkdir -p "$data/logs"
    sed -e "s|@LOG_DIRS@|$data/logs|" -e "s|@PORT@|$PORT|g" -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" \
      "$TEMPLATE" >"$data/server.properties"
    grep -q '@[A-Z_]*@' "$data/server.properties" && die "placeholder not replaced in server.properties"
    : >"$LOG_FILE"
    local format_args=()
    [[ -n "${KAFKA_FORMAT_ARGS_FILE:-}" ]] && mapfile -t format_args <"$KAFKA_FORMAT_ARGS_FILE"
    log "formatting ${data#"$ROOT/"}"
    if ! java "${JAVA_OPTS[@]}" -cp "$cp" kafka.tools.StorageTool format \
        -t "$CLUSTER_ID" -c "$data/server.properties" --ignore-formatted "${format_args[@]}" >>"$LOG_FILE" 2>&1; then
      log_tail
      rm -rf -- "$data"; rm -f "$DATA_FILE"
      die "kafka-storage format failed"
    fi
  fi

  local started=$SECONDS
  # Ignore SIGHUP (like nohup) so closing the terminal that ran 'start' does not kill it; stdio
  # goes to files so a caller that captures our output (e.g. node's execFile) is not held open,
  # and the lock fd is closed so the JVM does not hold the lock for its lifetime.
  ( trap '' HUP; exec java "${JAVA_OPTS[@]}" -cp "$cp" kafka.Kafka "$data/server.properties" ) \
    </dev/null >>"$LOG_FILE" 2>&1 8>&- 9>&- &
  pid=$!
  echo "$pid" >"$PID_FILE"
  log "started broker pid $pid; waiting up to ${START_TIMEOUT}s for $HOST:$PORT"

  local deadline=$((SECONDS + START_TIMEOUT))
  until port_open "$PORT"; do
    if ! alive "$pid"; then
      local rc=0
      wait "$pid" 2>/dev/null || rc=$?
      log_tail
      clean_stale
      die "broker process $pid exited (status $rc) before $HOST:$PORT accepted connections"
    fi
    if ((SECONDS >= deadline)); then
      log_tail
      terminate "$pid"
      clean_stale
      die "broker did not accept connections on $HOST:$PORT within ${START_TIMEOUT}s"
    fi
    sleep 0.2
  done
  log "broker ready on $HOST:$PORT after $((SECONDS - started))s (pid $pid)"
  echo "$HOST:$PORT"
}

# $1 = remove: delete the data dir; keep: leave it for 'resume'.
do_stop() {
  local mode="$1" pid
  pid="$(running_pid)"
  if [[ -n "$pid" ]]; then
    log "stopping broker pid $pid"
    terminate "$pid"
    if alive "$pid"; then
      die "broker pid $pid did not exit"
    fi
    log "broker stopped"
  else
    log "not running"
  fi
  if [[ "$mode" == keep ]]; then
    rm -f "$PID_FILE"
  else
    clean_stale
  fi
}

do_status() {
  local pid
  pid="$(running_pid)"
  if [[ -n "$pid" ]]; then
    local ready=no
    port_open "$PORT" && ready=yes
    echo "running pid=$pid brokers=$HOST:$PORT accepting=$ready data=$(cat "$DATA_FILE" 2>/dev/null || echo '?')"
    return 0
  fi
  echo "stopped"
  return 3
}

main() {
  [[ $# -eq 1 ]] || usage
  case "$1" in
    fetch) take_lock; do_fetch ;;
    start) take_lock; do_start fresh ;;
    resume) take_lock; do_start kept ;;
    stop) take_lock; do_stop remove ;;
    pause) take_lock; do_stop keep ;;
    status) do_status ;;
    -h | --help | help) usage ;;
    *) usage ;;
  esac
}

main "$@"
