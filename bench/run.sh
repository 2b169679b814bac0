#!/usr/bin/env bash
# salon benchmark scenarios (see docs/benchmarks.md).
#
#   bench/run.sh [--server salon|ngircd] [--scenario A|C|all] [options]
#
# Starts the server under test on free loopback ports with a benchmark
# configuration in a temporary directory, runs each scenario against a
# freshly started server (so idle RSS starts from a clean baseline), prints
# the reports and a summary, and stops the server. Every step is bounded in
# time: loadgen stops itself and is also wrapped in timeout(1).
#
# Scenarios
#   A  fan-out: 1,000 clients, 10 rooms, 100 senders, 1,000 msg/s total,
#      10 s, TCP (salon: --transport ws for WebSocket)
#   C  idle: 5,000 registered connections held 10 s; server RSS per
#      connection
#   R  one big room (not in "all"): 1,000 clients in 1 room, 10 senders,
#      100 msg/s = 99,900 deliveries/s (the shape of the prototype
#      measurements in DEPENDENCIES.md; echo-message off here)
#   M  max (not in "all"): scenario A's shape, rate x1.5 every 5 s step
#      from 1,000 msg/s until p99 > 50 ms or a delivery is missing
#
# Options
#   --server NAME      salon (default) or ngircd
#   --scenario LIST    A, C, R, M, or all (= A,C; default); comma-separated
#   --transport T      tcp (default) or ws (salon only: ws://.../irc)
#   --clients N        scenario A clients (default 1000)
#   --rate M           scenario A msg/s (default 1000)
#   --duration D       scenario A seconds (default 10)
#   --idle-clients N   scenario C connections (default 5000, max ~19,000)
#   --hold H           scenario C hold seconds (default 10)
#   --salon PATH       salon binary (default build/release/salon)
#   --out DIR          keep logs here (default: a new temporary directory)
#   --no-pin           do not pin server to CPU 0 and loadgen to CPU 1
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
server=salon
scenarios=all
transport=tcp
a_clients=1000
a_rate=1000
a_duration=10
c_clients=5000
c_hold=10
salon_bin=$root/build/release/salon
out=
pin=1

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
	case $1 in
	--server) server=$2; shift 2 ;;
	--scenario) scenarios=$2; shift 2 ;;
	--transport) transport=$2; shift 2 ;;
	--clients) a_clients=$2; shift 2 ;;
	--rate) a_rate=$2; shift 2 ;;
	--duration) a_duration=$2; shift 2 ;;
	--idle-clients) c_clients=$2; shift 2 ;;
	--hold) c_hold=$2; shift 2 ;;
	--salon) salon_bin=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--no-pin) pin=0; shift ;;
	-h|--help) usage; exit 0 ;;
	*) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
done
case $scenarios in all) scenarios=A,C ;; esac
case $server in salon|ngircd) ;; *) echo "run.sh: --server salon|ngircd" >&2; exit 2 ;; esac
case $transport in
tcp) ;;
ws) [ "$server" = salon ] || { echo "run.sh: ngIRCd has no WebSocket listener; ws is salon-only" >&2; exit 2; } ;;
*) echo "run.sh: --transport tcp|ws" >&2; exit 2 ;;
esac

make -s -C "$here" >/dev/null
loadgen=$here/loadgen

if [ -z "$out" ]; then
	out=$(mktemp -d "${TMPDIR:-/tmp}/salon-bench.XXXXXX")
else
	mkdir -p "$out"
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/salon-bench-srv.XXXXXX")

server_pid=
stop_server() {
	[ -n "$server_pid" ] || return 0
	if kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$server_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$server_pid" 2>/dev/null || true
	fi
	wait "$server_pid" 2>/dev/null || true
	server_pid=
}
cleanup() { stop_server; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# A port nobody listens on right now (tiny race, fine on a test machine).
free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() { # port seconds
	local deadline=$((SECONDS + $2))
	while [ $SECONDS -lt $deadline ]; do
		kill -0 "$server_pid" 2>/dev/null || return 1
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

pin_server=()
pin_loadgen=()
if [ "$pin" = 1 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
	pin_server=(taskset -c 0)
	pin_loadgen=(taskset -c 1)
fi

irc_port=
http_port=
start_server() { # tag
	local tag=$1 conf log
	irc_port=$(free_port)
	http_port=$(free_port)
	log=$out/$server-$tag.server.log
	case $server in
	ngircd)
		conf=$work/ngircd-$tag.conf
		# ngIRCd started as root drops to "nobody": give it a pid-file
		# directory it may write to.
		mkdir -p "$work/run" && chmod 1777 "$work/run"
		sed -e "s/@PORT@/$irc_port/" -e "s#@PIDFILE@#$work/run/ngircd-$tag.pid#" \
			"$here/peers/ngircd.conf" >"$conf"
		"${pin_server[@]}" ngircd -n -f "$conf" >"$log" 2>&1 &
		server_pid=$!
		;;
	salon)
		[ -x "$salon_bin" ] || { echo "run.sh: $salon_bin not built (make -C $root)" >&2; exit 1; }
		conf=$work/salon-$tag.conf
		mkdir -p "$work/data-$tag"
		# Limits raised so the server's capacity, not its anti-abuse
		# settings, is what gets measured (salon.conf.example).
		cat >"$conf" <<-EOF
		[server]
		name = salon.bench
		data_dir = $work/data-$tag
		log_level = warn

		[listen]
		irc = 127.0.0.1:$irc_port
		http = 127.0.0.1:$http_port
		web_root = $root/web

		[entry]
		open_registration = true

		[limits]
		max_connections = 20000
		per_address = 20000
		sendq = 4194304
		registration_timeout = 120
		ping_interval = 600
		ping_timeout = 600
		max_rooms_per_user = 20

		[flood]
		rate = 1000
		burst = 1000

		[rooms]
		user_rooms = true
		history_memory = 100
		EOF
		"${pin_server[@]}" "$salon_bin" --config "$conf" >"$log" 2>&1 &
		server_pid=$!
		;;
	esac
	local port=$irc_port
	[ "$transport" = ws ] && port=$http_port
	if ! wait_port "$port" 15; then
		echo "run.sh: $server did not start listening on 127.0.0.1:$port; its log:" >&2
		tail -20 "$log" >&2
		exit 1
	fi
}

target() {
	if [ "$transport" = ws ]; then
		echo "ws://127.0.0.1:$http_port/irc"
	else
		echo "127.0.0.1:$irc_port"
	fi
}

results=()
run_loadgen() { # tag bound_seconds loadgen-args...
	local tag=$1 bound=$2 rc=0
	shift 2
	local log=$out/$server-$tag.loadgen.log
	echo "--- $server scenario $tag: loadgen $*"
	# Other work on this machine skews CPU and latency figures: say so.
	echo "    load average before: $(cut -d' ' -f1-3 /proc/loadavg) (nproc $(nproc))"
	timeout --signal=INT --kill-after=5 "$bound" \
		"${pin_loadgen[@]}" "$loadgen" --server "$(target)" --server-pid "$server_pid" \
		--label "$server/$tag" "$@" >"$log" 2>&1 || rc=$?
	sed -e '/^\[/d' "$log"
	[ $rc -eq 0 ] || echo "run.sh: loadgen exited with status $rc (log: $log)" >&2
	results+=("$server $tag $(grep '^RESULT' "$log" | tail -1 | sed 's/^RESULT //')")
}

IFS=, read -r -a list <<<"$scenarios"
for s in "${list[@]}"; do
	case $s in
	A)
		start_server A
		run_loadgen A $((a_duration + 150)) --mode fanout --clients "$a_clients" --rooms 10 \
			--senders 100 --rate "$a_rate" --duration "$a_duration" --drain 5 --addrs 8
		stop_server
		;;
	C)
		start_server C
		run_loadgen C $((c_hold + 150)) --mode idle --clients "$c_clients" --hold "$c_hold" --addrs 8
		stop_server
		;;
	R)
		start_server R
		run_loadgen R $((a_duration + 150)) --mode fanout --clients "$a_clients" --rooms 1 \
			--senders 10 --rate 100 --duration "$a_duration" --drain 5 --addrs 8
		stop_server
		;;
	M)
		start_server M
		run_loadgen M 400 --mode max --clients "$a_clients" --rooms 10 --senders 100 \
			--rate 1000 --step 1.5 --rate-max 50000 --p99-max 50 --duration 5 --drain 5 --addrs 8
		stop_server
		;;
	*) echo "run.sh: unknown scenario $s (A, C, R, M)" >&2; exit 2 ;;
	esac
done

echo
echo "=== summary ($server, $transport; logs in $out) ==="
for r in "${results[@]}"; do
	echo "$r"
done
