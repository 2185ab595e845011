#!/usr/bin/env bash
# End-to-end tracing check: runs examples/tracing against a real Jaeger v2
# (all-in-one, in-memory storage, every listener on 127.0.0.1) and checks with
# examples/tracing/checktrace that each trace the example printed reached
# Jaeger complete, from the host request span to the receiver's server span.
#
# Jaeger is built from the Go module proxy in its own module
# (examples/tracing/jaeger) the first time, niced, and cached outside the
# repository in ${HOOKBUS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hookbus}.
# Exits 0 only when every trace is complete.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
service="hookbus-quickstart"
health_url="http://127.0.0.1:13133/status"
query_url="http://127.0.0.1:16686"
otlp_url="http://127.0.0.1:4318"
start=$SECONDS

log() { printf 'e2e: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

command -v go >/dev/null || die "go is not on PATH"
command -v curl >/dev/null || die "curl is not on PATH"

version="$(awk '$1 == "require" && $2 == "github.com/jaegertracing/jaeger" { print $3 }' "$here/jaeger/go.mod")"
[[ -n "$version" ]] || die "no github.com/jaegertracing/jaeger requirement in $here/jaeger/go.mod"
cache_dir="${HOOKBUS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hookbus}"
jaeger_bin="$cache_dir/jaeger-$version"

work="$(mktemp -d "${TMPDIR:-/tmp}/hookbus-e2e.XXXXXX")"
jaeger_log="$work/jaeger.log"
jaeger_pid=""

stop_jaeger() {
	[[ -n "$jaeger_pid" ]] || return 0
	if kill -0 "$jaeger_pid" 2>/dev/null; then
		kill -TERM "$jaeger_pid" 2>/dev/null || true
		for _ in $(seq 1 100); do
			kill -0 "$jaeger_pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$jaeger_pid" 2>/dev/null; then
			log "Jaeger did not stop in 10s; killing it"
			kill -KILL "$jaeger_pid" 2>/dev/null || true
		fi
	fi
	wait "$jaeger_pid" 2>/dev/null || true
	jaeger_pid=""
}

cleanup() {
	local status=$?
	if [[ $status -ne 0 && -s "$jaeger_log" ]]; then
		log "last lines of Jaeger's log ($jaeger_log):"
		tail -n 30 "$jaeger_log" >&2
	fi
	stop_jaeger
	if [[ $status -ne 0 ]]; then
		log "FAILED after $((SECONDS - start))s; files kept in $work"
	else
		rm -rf "$work"
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 1. Jaeger, built once per version.
if [[ ! -x "$jaeger_bin" ]]; then
	log "building Jaeger $version into $jaeger_bin (niced; about 5 to 12 minutes cold)"
	mkdir -p "$cache_dir"
	(cd "$here/jaeger" && nice -n 19 go build -o "$jaeger_bin.tmp.$$" github.com/jaegertracing/jaeger/cmd/jaeger)
	mv -f "$jaeger_bin.tmp.$$" "$jaeger_bin"
else
	log "using cached $jaeger_bin"
fi

# 2. The example and the checker, built before Jaeger starts.
(cd "$root" && go build -o "$work/" ./examples/tracing ./examples/tracing/checktrace)

# 3. Jaeger all-in-one with in-memory storage. JAEGER_LISTEN_HOST moves the
# collector's listeners to loopback and the flags move the query service
# there; the last four keep only what this check uses (OTLP in, query out,
# health) so that it opens 127.0.0.1:4317, 4318, 13132, 13133, 16685 and
# 16686 and nothing else. Without enable_tracing=false Jaeger traces itself
# and takes 10 s to stop.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in 4317 4318 13132 13133 16685 16686; do
	if port_busy "$port"; then
		die "127.0.0.1:$port is already in use (another Jaeger or collector?)"
	fi
done
log "starting Jaeger (log: $jaeger_log)"
JAEGER_LISTEN_HOST=127.0.0.1 "$jaeger_bin" \
	--set=extensions.jaeger_query.http.endpoint=127.0.0.1:16686 \
	--set=extensions.jaeger_query.grpc.endpoint=127.0.0.1:16685 \
	--set=extensions.jaeger_query.enable_tracing=false \
	'--set=service.extensions=[jaeger_storage,jaeger_query,healthcheckv2]' \
	'--set=service.pipelines.traces.receivers=[otlp]' \
	--set=service.telemetry.metrics.level=none \
	>"$jaeger_log" 2>&1 &
jaeger_pid=$!
ready=""
for _ in $(seq 1 150); do
	kill -0 "$jaeger_pid" 2>/dev/null || die "Jaeger exited during start-up"
	if curl -fsS -o /dev/null --max-time 1 "$health_url" 2>/dev/null; then
		ready=1
		break
	fi
	sleep 0.2
done
[[ -n "$ready" ]] || die "Jaeger not ready after 30s ($health_url)"
log "Jaeger ready after $((SECONDS - start))s"

# 4. The example, exporting to Jaeger's OTLP/HTTP receiver.
OTEL_EXPORTER_OTLP_ENDPOINT="$otlp_url" OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="" \
	"$work/tracing" -service "$service" | tee "$work/example.out"
grep -q '^trace_id=' "$work/example.out" || die "the example printed no trace ids"

# 5. Every printed trace, complete in Jaeger within 30s.
"$work/checktrace" -query "$query_url" -service "$service" -failing "Legacy ERP (down)" \
	-timeout 30s <"$work/example.out"

log "PASS in $((SECONDS - start))s"
