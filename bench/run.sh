#!/usr/bin/env bash
# salon benchmark scenarios (issue 6; see docs/benchmarks.md).
#
#   bench/run.sh [--server salon|ngircd|hybrid|inspircd] [--scenario LIST] [options]
#
# Starts the server under test on free loopback ports with a benchmark
# configuration in a temporary directory, runs each scenario against a
# freshly started server (so idle RSS starts from a clean baseline), prints
# the reports and a summary, and stops the server. Peers are installed from
# Debian's packages when missing (ngircd and inspircd with apt-get;
# ircd-hybrid, which conflicts with ngircd, unpacked with apt-get download +
# dpkg-deb -x). Every step is bounded in time: loadgen stops itself and is
# also wrapped in timeout(1).
#
# Scenarios (issue 6)
#   A   fan-out: 1,000 clients, 10 rooms, 100 senders, 1,000 msg/s, 10 s
#   B   max: A's population, rate x1.5 per 3 s step from 250 msg/s until
#       p99 > 100 ms, a copy is missing, or the sender falls behind, then
#       two bisections between the last rate held and the failing one
#       (so the maximum is known within 11 %, not 50 %); reports
#       max deliveries/s, server CPU us/delivery there, and whether loadgen
#       ran out of CPU first
#   C   idle: 10,000 registered connections held 5 s; server RSS per conn
#   D   one room of 2,000 members, 10 senders, 10 msg/s, 10 s: every copy
#       must arrive; join time of 2,000 clients, p99
#   E   policy gate (salon only): one room of 10 members, all sending,
#       0.4 msg/s each (24 a minute, under the default limit of 30), 15 s,
#       once with
#       salon's default policy config (E-default) and once with the bench
#       config (E-bench); then E-fast: the same room at 3,000 msg/s (bench
#       config, 5 s). Reports server CPU us per message.
#   F   WebSocket variants of A and C (tags FA, FC; salon and inspircd)
#   FB  B over WebSocket (salon and inspircd; not part of F or all: ~4 min
#       per server)
#   all = A,B,C,D,E,F
#   Extras: R (1,000 members in one room, 100 msg/s), M (= B)
#
# Options
#   --server NAME      salon (default), ngircd, hybrid (ircd-hybrid), inspircd,
#                      or floor / floor-send: bench/floor, the least a relay
#                      can do (io_uring batches / one send() per copy), to
#                      measure the floor of A and D (TCP only)
#   --scenario LIST    comma-separated, default all
#   --transport T      tcp (default) or ws: transport of A, B, C and R
#   --quick            short durations, fewer idle clients (smoke test)
#   --results FILE     append "rep=N server=S scenario=T <RESULT fields>"
#   --rep N            repetition number written to --results (default 1)
#   --salon PATH       salon binary (default build/release/salon)
#   --out DIR          keep logs here (default: a new temporary directory)
#   --no-pin           do not pin server to CPU 0 and loadgen to CPU 1
#   --no-install       fail instead of installing a missing peer
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
server=salon
scenarios=all
transport=tcp
quick=0
results_file=
rep=1
salon_bin=$root/build/release/salon
out=
pin=1
install=1
# Unpacked peers (ircd-hybrid, or ngircd when hybrid is the installed one).
peer_cache=${SALON_BENCH_PEERS:-/var/cache/salon-bench/peers}

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
	case $1 in
	--server) server=$2; shift 2 ;;
	--scenario) scenarios=$2; shift 2 ;;
	--transport) transport=$2; shift 2 ;;
	--quick) quick=1; shift ;;
	--results) results_file=$2; shift 2 ;;
	--rep) rep=$2; shift 2 ;;
	--salon) salon_bin=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--no-pin) pin=0; shift ;;
	--no-install) install=0; shift ;;
	-h|--help) usage; exit 0 ;;
	*) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
done
case $scenarios in all) scenarios=A,B,C,D,E,F ;; esac
case $server in
salon|ngircd|hybrid|inspircd|floor|floor-send) ;;
ircd-hybrid) server=hybrid ;;
*) echo "run.sh: --server salon|ngircd|hybrid|inspircd|floor|floor-send" >&2; exit 2 ;;
esac
case $transport in tcp|ws) ;; *) echo "run.sh: --transport tcp|ws" >&2; exit 2 ;; esac

# Durations: full (issue 6) and quick (smoke test).
if [ "$quick" = 1 ]; then
	a_dur=3 b_start=500 b_step=2 b_refine=0 b_dur=2 c_n=5000 c_hold=3 d_dur=3 e_dur=5 e_fast_dur=3
else
	a_dur=10 b_start=250 b_step=1.5 b_refine=2 b_dur=3 c_n=10000 c_hold=5 d_dur=10 e_dur=15 e_fast_dur=5
fi
b_p99=100

make -s -C "$here" >/dev/null
loadgen=$here/loadgen

if [ -z "$out" ]; then
	out=$(mktemp -d "${TMPDIR:-/tmp}/salon-bench.XXXXXX")
else
	mkdir -p "$out"
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/salon-bench-srv.XXXXXX")
# Peers drop to (or are started as) nobody: it must write its pid files.
chmod 755 "$work"

server_pid=
dns_pid=
stop_pid() { # pid
	local p=$1
	kill -0 "$p" 2>/dev/null || { wait "$p" 2>/dev/null || true; return 0; }
	kill -TERM "$p" 2>/dev/null || true
	for _ in $(seq 50); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
}
stop_server() {
	[ -z "$server_pid" ] || stop_pid "$server_pid"
	[ -z "$dns_pid" ] || stop_pid "$dns_pid"
	server_pid=
	dns_pid=
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

# ---------------------------------------------------------------- peers

apt_install() { # package...
	[ "$install" = 1 ] || { echo "run.sh: $* missing (--no-install)" >&2; exit 1; }
	echo "run.sh: installing $* from Debian's packages" >&2
	DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y --no-install-recommends "$@" >&2
}

# Unpack a package's files without installing it (its conflicts with an
# installed package do not matter then). Prints the unpacked root.
unpack() { # package
	local pkg=$1 dir=$peer_cache/$1
	if [ ! -f "$dir/.unpacked" ]; then
		[ "$install" = 1 ] || { echo "run.sh: $pkg not unpacked (--no-install)" >&2; exit 1; }
		echo "run.sh: unpacking $pkg into $dir (apt-get download + dpkg-deb -x)" >&2
		rm -rf "$dir" && mkdir -p "$dir/deb"
		(cd "$dir/deb" && timeout 300 apt-get download "$pkg" >&2)
		dpkg-deb -x "$dir"/deb/*.deb "$dir/root"
		chmod -R a+rX "$dir"
		touch "$dir/.unpacked"
	fi
	echo "$dir/root"
}

pkg_installed() { dpkg-query -W -f '${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

ngircd_bin=
hybrid_bin=
hybrid_mod=
ensure_peer() {
	case $server in
	ngircd)
		if pkg_installed ngircd; then
			ngircd_bin=$(command -v ngircd || echo /usr/sbin/ngircd)
		elif pkg_installed ircd-hybrid; then
			ngircd_bin=$(unpack ngircd)/usr/sbin/ngircd
		else
			apt_install ngircd
			ngircd_bin=/usr/sbin/ngircd
		fi
		;;
	hybrid)
		# Debian's ircd-hybrid conflicts with ngircd: when ngircd is
		# installed (or about to be), hybrid is unpacked and run from
		# there. Its binary loads modules from the compiled-in
		# /usr/lib/ircd-hybrid/modules: start_server bind-mounts the
		# unpacked directory there in a private mount namespace.
		pkg_installed libltdl7 || apt_install libltdl7
		pkg_installed libgnutls30 || apt_install libgnutls30
		if pkg_installed ircd-hybrid; then
			hybrid_bin=/usr/sbin/ircd-hybrid
			hybrid_mod=
		else
			local r
			r=$(unpack ircd-hybrid)
			hybrid_bin=$r/usr/sbin/ircd-hybrid
			hybrid_mod=$r/usr/lib/ircd-hybrid
			mkdir -p /usr/lib/ircd-hybrid   # empty mount point
		fi
		;;
	inspircd)
		pkg_installed inspircd || apt_install inspircd
		[ -f /usr/lib/inspircd/modules/m_websocket.so ] ||
			echo "run.sh: this inspircd has no m_websocket: F is skipped" >&2
		;;
	esac
}

# Peers run unprivileged (hybrid and InspIRCd refuse root; ngIRCd drops to
# nobody by itself).
as_nobody=(setpriv --reuid=nobody --regid=nogroup --clear-groups)

irc_port=
http_port=
ws_url=
start_server() { # tag [salon config flavour: bench|default]
	local tag=$1 flavour=${2:-bench} conf log dir
	irc_port=$(free_port)
	http_port=$(free_port)
	ws_url=
	log=$out/$server-$tag.server.log
	dir=$work/$server-$tag
	mkdir -p "$dir" && chmod 777 "$dir"
	case $server in
	ngircd)
		conf=$dir/ngircd.conf
		sed -e "s/@PORT@/$irc_port/" -e "s#@PIDFILE@#$dir/ngircd.pid#" \
			"$here/peers/ngircd.conf" >"$conf"
		chmod 644 "$conf"
		"${pin_server[@]}" "$ngircd_bin" -n -f "$conf" >"$log" 2>&1 &
		server_pid=$!
		;;
	hybrid)
		conf=$dir/ircd.conf
		sed -e "s/@PORT@/$irc_port/" -e "s#@DIR@#$dir#" \
			-e "s#@MODDIR@#/usr/lib/ircd-hybrid/modules#" \
			"$here/peers/ircd-hybrid.conf" >"$conf"
		chmod 644 "$conf"
		# hybrid always does reverse DNS via /etc/resolv.conf: in its
		# own mount namespace that file names 127.0.0.53, where
		# peers/nxdns.py answers NXDOMAIN at once. No query leaves
		# loopback and no registration waits for a resolver timeout.
		echo "nameserver 127.0.0.53" >"$dir/resolv.conf"
		chmod 644 "$dir/resolv.conf"
		"${pin_loadgen[@]}" /usr/bin/python3 "$here/peers/nxdns.py" 127.0.0.53 53 >"$out/$server-$tag.dns.log" 2>&1 &
		dns_pid=$!
		local mounts="mount --bind '$dir/resolv.conf' /etc/resolv.conf"
		[ -z "$hybrid_mod" ] || mounts="$mounts && mount --bind '$hybrid_mod' /usr/lib/ircd-hybrid"
		"${pin_server[@]}" unshare -m --propagation private sh -c "$mounts && exec ${as_nobody[*]} '$hybrid_bin' \
			-foreground -configfile '$conf' -pidfile '$dir/pid' -logfile '$dir/ircd.log' \
			-klinefile '$dir/k.db' -dlinefile '$dir/d.db' -xlinefile '$dir/x.db' -resvfile '$dir/r.db'" \
			>"$log" 2>&1 &
		server_pid=$!
		;;
	inspircd)
		conf=$dir/inspircd.conf
		sed -e "s/@PORT@/$irc_port/" -e "s/@WSPORT@/$http_port/" -e "s#@DIR@#$dir#" \
			"$here/peers/inspircd.conf" >"$conf"
		chmod 644 "$conf"
		"${pin_server[@]}" "${as_nobody[@]}" /usr/sbin/inspircd --nofork --nolog --config "$conf" >"$log" 2>&1 &
		server_pid=$!
		ws_url=ws://127.0.0.1:$http_port/
		;;
	floor|floor-send)
		local how=uring
		[ "$server" = floor ] || how=send
		"${pin_server[@]}" "$here/floor" --listen "127.0.0.1:$irc_port" --write "$how" >"$log" 2>&1 &
		server_pid=$!
		;;
	salon)
		[ -x "$salon_bin" ] || { echo "run.sh: $salon_bin not built (make -C $root)" >&2; exit 1; }
		conf=$dir/salon.conf
		mkdir -p "$dir/data"
		ws_url=ws://127.0.0.1:$http_port/irc
		if [ "$flavour" = default ]; then
			# salon.conf.example's defaults for every policy setting
			# ([limits], [flood], [protection]); only what a benchmark
			# cannot do without is set: loopback ports, a data
			# directory, open registration (no tickets in loadgen),
			# and where the rule packs and their compiled cache are.
			cat >"$conf" <<-EOF
			[server]
			name = salon.bench
			data_dir = $dir/data
			log_level = warn

			[listen]
			irc = 127.0.0.1:$irc_port
			http = 127.0.0.1:$http_port
			web_root = $root/web

			[entry]
			open_registration = true

			[protection]
			rules_dir = $root/rules
			rules_cache = ${TMPDIR:-/tmp}/salon-rules-cache-$(id -u)
			EOF
		else
			# Limits raised so the server's capacity, not its
			# anti-abuse settings, is what gets measured
			# (salon.conf.example): no per-address limit, a 4 MiB
			# sendq, a flood clock that never throttles (a 1 ms
			# step per command with a burst of 10^6 commands), and
			# rate and connection limits out of reach (loadgen's
			# texts are never duplicates, its messages never private).
			# Every shipped rule still reads every message.
			cat >"$conf" <<-EOF
			[server]
			name = salon.bench
			data_dir = $dir/data
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
			rate = 1000000
			burst = 1000000

			[rooms]
			user_rooms = true
			history_memory = 100

			[protection]
			rules_dir = $root/rules
			rules_cache = ${TMPDIR:-/tmp}/salon-rules-cache-$(id -u)
			messages_per_minute = 1000000
			duplicate_targets = 8
			duplicate_sessions = 8
			new_links_max = 1000
			new_mentions_max = 1000
			first_contacts_per_hour = 32
			first_contacts_new = 32
			connect_per_minute = 1000000
			connect_prefix_per_minute = 1000000
			EOF
		fi
		"${pin_server[@]}" "$salon_bin" --config "$conf" >"$log" 2>&1 &
		server_pid=$!
		;;
	esac
	if ! wait_port "$irc_port" 20; then
		echo "run.sh: $server did not start listening on 127.0.0.1:$irc_port; its log:" >&2
		tail -20 "$log" >&2
		exit 1
	fi
	if [ -n "$ws_url" ] && ! wait_port "$http_port" 5; then
		echo "run.sh: $server: no WebSocket listener on 127.0.0.1:$http_port" >&2
		ws_url=
	fi
}

target() { # tcp|ws
	if [ "$1" = ws ]; then echo "$ws_url"; else echo "127.0.0.1:$irc_port"; fi
}

has_ws() {
	case $server in
	salon) return 0 ;;
	inspircd) [ -f /usr/lib/inspircd/modules/m_websocket.so ] ;;
	*) return 1 ;;
	esac
}

results=()
# Runs loadgen against the running server; its RESULT fields, with
# loadgen's exit status, whether the server survived and the load average,
# are left in $last_res.
last_res=
loadgen_run() { # tag transport bound_seconds loadgen-args...
	local tag=$1 tr=$2 bound=$3 rc=0 res
	shift 3
	local log=$out/$server-$tag.loadgen.log
	echo "--- $server scenario $tag ($tr): loadgen $*"
	# Other work on this machine skews CPU and latency figures: say so.
	echo "    load average before: $(cut -d' ' -f1-3 /proc/loadavg) (nproc $(nproc))"
	timeout --signal=INT --kill-after=5 "$bound" \
		"${pin_loadgen[@]}" "$loadgen" --server "$(target "$tr")" --server-pid "$server_pid" \
		--label "$server/$tag" "$@" >"$log" 2>&1 || rc=$?
	sed -e '/^\[/d' "$log"
	[ $rc -eq 0 ] || echo "run.sh: loadgen exited with status $rc (log: $log)" >&2
	# The server must still be alive: a crash under load is a finding.
	local alive=1
	kill -0 "$server_pid" 2>/dev/null || { alive=0; echo "run.sh: $server DIED during $tag (log: $out/$server-$tag.server.log)" >&2; }
	res=$(grep '^RESULT' "$log" | tail -1 | sed 's/^RESULT //')
	[ -n "$res" ] || res="missing=1"
	last_res="$res loadgen_rc=$rc server_alive=$alive load1=$(cut -d' ' -f1 /proc/loadavg)"
}

record_result() { # tag fields
	results+=("$server $1 $2")
	if [ -n "$results_file" ]; then
		echo "rep=$rep server=$server scenario=$1 $2" >>"$results_file"
	fi
}

run_loadgen() { # tag transport bound_seconds loadgen-args...
	loadgen_run "$@"
	record_result "$1" "$last_res"
}

field() { # key fields...: the value of key=value among the fields, or ""
	local k=$1 kv
	shift
	for kv in $*; do
		[ "${kv%%=*}" = "$k" ] && { echo "${kv#*=}"; return; }
	done
	echo ""
}

# B: the ladder (x1.5 per step) brackets the maximum within 50 %. At
# saturation CPU per delivery is about one CPU divided by the rate held, so
# that much quantisation would decide the ratio between two servers: the
# bracket is bisected (geometric midpoint) $b_refine times, each time on a
# freshly started server, because a server that collapsed under the failing
# step (a peer's backlog of seconds) is not the server a fresh one is. The
# recorded line is the highest rate held with the lowest rate that failed.
scen_B() { # tag transport
	local tag=$1 tr=$2 held fail mid k done=0 held_res fail_res kv out_res
	local failkeys=" stop limited_by fail_rate fail_p99_ms fail_lost fail_server_cpu_util fail_loadgen_cpu_util "
	start_server "$tag"
	loadgen_run "$tag" "$tr" 900 --mode max --clients 1000 --rooms 10 --senders 100 \
		--rate "$b_start" --step "$b_step" --rate-max 200000 --p99-max "$b_p99" \
		--duration "$b_dur" --drain 3 "${common[@]}"
	stop_server
	held_res=$last_res fail_res=$last_res
	held=$(field max_rate $last_res) fail=$(field fail_rate $last_res)
	for ((k = 1; k <= b_refine; k++)); do
		# Nothing to bisect without a rate held and a rate failed.
		[ "${held:-0}" != 0 ] && [ "${fail:-0}" != 0 ] || break
		mid=$(awk -v a="$held" -v b="$fail" 'BEGIN { printf "%.0f", sqrt(a * b) }')
		start_server "$tag-bisect$k"
		loadgen_run "$tag-bisect$k" "$tr" 300 --mode max --clients 1000 --rooms 10 --senders 100 \
			--rate "$mid" --rate-max "$mid" --p99-max "$b_p99" \
			--duration "$b_dur" --drain 3 "${common[@]}"
		stop_server
		if [ "$(field max_rate $last_res)" = "$mid" ]; then
			held=$mid held_res=$last_res
		elif [ "$(field fail_rate $last_res)" = "$mid" ]; then
			fail=$mid fail_res=$last_res
		else
			echo "run.sh: bisection at $mid msg/s gave no result; search stopped" >&2
			break
		fi
		done=$k
	done
	# Held-step figures from held_res, failure figures from fail_res.
	out_res=
	for kv in $held_res; do
		case $failkeys in *" ${kv%%=*} "*) kv="${kv%%=*}=$(field "${kv%%=*}" $fail_res)" ;; esac
		out_res+="${out_res:+ }$kv"
	done
	record_result "$tag" "$out_res bisections=$done"
}

# Every scenario's connections come from 127.0.0.1-8; the setup window is
# wide enough for a server that completes registrations on a 1 s tick
# (InspIRCd) and the ramp (2,000 connections/s) paces everyone the same.
common=(--addrs 8 --window 2048)

scen_A() { # tag transport
	start_server "$1"
	run_loadgen "$1" "$2" $((a_dur + 150)) --mode fanout --clients 1000 --rooms 10 \
		--senders 100 --rate 1000 --duration "$a_dur" --drain 5 "${common[@]}"
	stop_server
}
scen_C() { # tag transport
	start_server "$1"
	run_loadgen "$1" "$2" $((c_hold + 150)) --mode idle --clients "$c_n" --hold "$c_hold" "${common[@]}"
	stop_server
}

ensure_peer
if [ "$transport" = ws ] && ! has_ws; then
	echo "run.sh: $server has no WebSocket listener here; --transport ws is for salon and inspircd" >&2
	exit 2
fi
IFS=, read -r -a list <<<"$scenarios"
for s in "${list[@]}"; do
	case $s in
	A) scen_A A "$transport" ;;
	C) scen_C C "$transport" ;;
	B|M) scen_B B "$transport" ;;
	D)
		start_server D
		run_loadgen D tcp $((d_dur + 200)) --mode fanout --clients 2000 --rooms 1 \
			--senders 10 --rate 10 --duration "$d_dur" --drain 5 --setup-timeout 180 "${common[@]}"
		stop_server
		;;
	E)
		if [ "$server" != salon ]; then
			echo "--- $server scenario E: skipped (salon's policy gate only)"
			continue
		fi
		start_server E-default default
		run_loadgen E-default tcp $((e_dur + 60)) --mode fanout --clients 10 --rooms 1 --senders 10 \
			--rate 4 --duration "$e_dur" --drain 5 "${common[@]}"
		stop_server
		start_server E-bench bench
		run_loadgen E-bench tcp $((e_dur + 60)) --mode fanout --clients 10 --rooms 1 --senders 10 \
			--rate 4 --duration "$e_dur" --drain 5 "${common[@]}"
		stop_server
		start_server E-fast bench
		run_loadgen E-fast tcp $((e_fast_dur + 60)) --mode fanout --clients 10 --rooms 1 --senders 10 \
			--rate 3000 --duration "$e_fast_dur" --drain 5 "${common[@]}"
		stop_server
		;;
	F|FA|FB|FC)
		if ! has_ws; then
			echo "--- $server scenario $s: skipped (no WebSocket listener)"
			continue
		fi
		case $s in F|FA) scen_A FA ws ;; esac
		case $s in FB) scen_B FB ws ;; esac
		case $s in F|FC) scen_C FC ws ;; esac
		;;
	R)
		start_server R
		run_loadgen R "$transport" $((a_dur + 150)) --mode fanout --clients 1000 --rooms 1 \
			--senders 10 --rate 100 --duration "$a_dur" --drain 5 "${common[@]}"
		stop_server
		;;
	*) echo "run.sh: unknown scenario $s (A B C D E F FA FB FC R M)" >&2; exit 2 ;;
	esac
done

echo
echo "=== summary ($server; logs in $out) ==="
for r in "${results[@]}"; do
	echo "$r"
done
