# shellcheck shell=bash
# Shared by deploy/local/up and deploy/local/down. Not meant to be run.
#
# Every service that `up` starts itself has, in $PIDS:
#   NAME.pid    its pid
#   NAME.port   the port it listens on (127.0.0.1)
#   NAME.match  strings its /proc/PID/cmdline must contain (one a line), so a
#               recycled pid is never mistaken for ours
#   NAME.spec   what it was started from (binary mtime, lock hash, upstream
#               endpoint): when that changes, `up` restarts it
# Services reused from the machine have no such files: `down` never sees them.

# shellcheck disable=SC2034 # used by the scripts that source this file
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd "$HERE/../.." && pwd -P)
STATE=$HERE/.state
LOGS=$STATE/logs
PIDS=$STATE/pids
DATA=$STATE/data
BIN=$STATE/bin
ENV_FILE=$STATE/env

PROG=${PROG:-$(basename "$0")}

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
	printf '%s: error: %s\n' "$PROG" "$*" >&2
	exit 1
}

# rel PATH: PATH relative to the repository root, for messages.
rel() { printf '%s' "${1#"$ROOT"/}"; }

# now_ms: wall clock in milliseconds.
now_ms() { date +%s%3N; }

# lock: serialise up/down runs on this checkout (two `make test` at once).
# fd 9 must not leak into the services we start: every spawn closes it.
lock() {
	mkdir -p "$STATE"
	exec 9>"$STATE/lock"
	if ! flock -n 9; then
		log "waiting for another deploy/local/up or down on this checkout to finish..."
		flock -w 600 9 || die "timed out waiting for the lock $(rel "$STATE/lock")"
	fi
}

# close_fds: in a subshell about to exec a daemon, close every inherited fd
# above 2 (our lock on fd 9, and any pipe the caller of `make test` left
# open, which a daemon would otherwise hold open for as long as it runs).
close_fds() {
	local fd n
	for fd in "/proc/$BASHPID/fd"/*; do
		n=${fd##*/}
		((n > 2)) || continue
		{ exec {n}>&-; } 2>/dev/null || true
	done
}

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# http_answers PORT: an HTTP server answers on 127.0.0.1:PORT (any status).
http_answers() {
	(
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf 'GET / HTTP/1.0\r\nHost: 127.0.0.1:%s\r\n\r\n' "$1" >&3
		IFS= read -r -t 3 line <&3 || exit 1
		[[ $line == HTTP/* ]]
	) 2>/dev/null
}

# redis_pong PORT: a Redis server on 127.0.0.1:PORT answers PING with PONG
# (no password needed).
redis_pong() {
	local out
	if command -v redis-cli >/dev/null 2>&1; then
		out=$(timeout 3 redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null) || return 1
		[[ $out == PONG ]]
	else
		(
			exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
			printf 'PING\r\n' >&3
			IFS= read -r -t 3 line <&3 || exit 1
			[[ $line == +PONG* ]]
		) 2>/dev/null
	fi
}

# pid_running PID: the process exists and is not a zombie (PID 1 here may
# not reap the orphans of an earlier `up`).
pid_running() {
	local pid=$1 stat
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[[ ${stat:0:1} != Z ]]
}

# read_file FILE: its first line, or nothing.
read_file() {
	local line=
	[[ -f $1 ]] && IFS= read -r line <"$1"
	printf '%s' "$line"
}

# is_ours NAME: NAME's pid file names a live process whose command line
# contains every line of NAME.match.
is_ours() {
	local name=$1 pid cmdline pat
	pid=$(read_file "$PIDS/$name.pid")
	pid_running "$pid" || return 1
	[[ -s $PIDS/$name.match ]] || return 1
	cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
	while IFS= read -r pat; do
		[[ -z $pat || $cmdline == *"$pat"* ]] || return 1
	done <"$PIDS/$name.match"
}

forget() {
	local name=$1
	rm -f "$PIDS/$name.pid" "$PIDS/$name.port" "$PIDS/$name.match" "$PIDS/$name.spec"
}

# wait_gone PID SECONDS: wait until PID has exited (or is a zombie).
wait_gone() {
	local pid=$1 deadline
	deadline=$(($(now_ms) + $2 * 1000))
	while pid_running "$pid"; do
		(($(now_ms) < deadline)) || return 1
		sleep 0.1
	done
}

# stop_service NAME: stop NAME if `up` started it (pid file + command line
# match), then forget it. PostgreSQL gets SIGINT (fast shutdown: SIGTERM would
# wait for every client to disconnect), then SIGQUIT; the others SIGTERM; all
# get SIGKILL after a bounded wait. Prints what it did.
stop_service() {
	local name=$1 pid sig=TERM
	if is_ours "$name"; then
		pid=$(read_file "$PIDS/$name.pid")
		[[ $name == postgres ]] && sig=INT
		kill "-$sig" "$pid" 2>/dev/null || true
		if ! wait_gone "$pid" 15; then
			if [[ $name == postgres ]]; then
				log "$name (pid $pid) did not stop in 15 s: SIGQUIT"
				kill -QUIT "$pid" 2>/dev/null || true
				wait_gone "$pid" 5 || true
			fi
			if pid_running "$pid"; then
				log "$name (pid $pid) did not stop: SIGKILL"
				kill -KILL "$pid" 2>/dev/null || true
				wait_gone "$pid" 5 || log "warning: $name (pid $pid) still running after SIGKILL"
			fi
		fi
		printf '  %-15s stopped (pid %s)\n' "$name" "$pid"
	elif [[ -e $PIDS/$name.pid ]]; then
		printf '  %-15s not running (stale pid file removed)\n' "$name"
	fi
	forget "$name"
}

# Services `up` may start, in the order `down` stops them.
# shellcheck disable=SC2034
SERVICES=(firehose-local s3-local kinesalite dynalite redis-tls redis postgres)
