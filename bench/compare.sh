#!/usr/bin/env bash
# Comparison of salon with Debian's ngIRCd, ircd-hybrid and InspIRCd
# (issue 6; docs/benchmarks.md).
#
#   bench/compare.sh [--quick] [--reps N] [--servers LIST] [--scenarios LIST] [--out DIR]
#
# Runs the same scenarios against every server in the same run, alternating:
# for each repetition, for each scenario, each server in turn (the order
# rotates every repetition so no server always runs right after another
# one's load). Each run starts a fresh server (bench/run.sh). Then prints a
# table of medians per server and ratios salon/peer (bench/table.py). The
# machine is shared and noisy: ratios from one comparison run are the
# figures that count.
#
# Options
#   --quick            1 repetition, short durations (smoke test, ~5 min)
#   --reps N           repetitions (default 3; 1 with --quick)
#   --servers LIST     default salon,ngircd,hybrid,inspircd
#   --scenarios LIST   default A,B,C,D,E,F (E is salon only; F salon and
#                      inspircd: the others have no WebSocket listener);
#                      FB (B over WebSocket) on request, ~4 min per server
#   --out DIR          logs and results.txt (default: a new temporary dir)
#   --salon PATH       salon binary (default build/release/salon)
#   --no-pin           passed to run.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
quick=0
reps=
servers=salon,ngircd,hybrid,inspircd
scenarios=A,B,C,D,E,F
out=
extra=()
salon_bin=$root/build/release/salon

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1; shift ;;
	--reps) reps=$2; shift 2 ;;
	--servers) servers=$2; shift 2 ;;
	--scenarios) scenarios=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--salon) extra+=(--salon "$2"); salon_bin=$2; shift 2 ;;
	--no-pin) extra+=(--no-pin); shift ;;
	-h|--help) usage; exit 0 ;;
	*) echo "compare.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
done
[ -n "$reps" ] || { [ "$quick" = 1 ] && reps=1 || reps=3; }
[ "$quick" = 1 ] && extra+=(--quick)
if [ -z "$out" ]; then
	out=$(mktemp -d "${TMPDIR:-/tmp}/salon-compare.XXXXXX")
else
	mkdir -p "$out"
fi
results=$out/results.txt
: >"$results"

IFS=, read -r -a srv <<<"$servers"
IFS=, read -r -a scen <<<"$scenarios"

{
	echo "# salon comparison $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "# mode: $([ "$quick" = 1 ] && echo quick || echo full), $reps repetition(s), servers ${servers}, scenarios ${scenarios}"
	echo "# machine: nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), kernel $(uname -r)"
	echo "# salon: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?') (working tree), binary $salon_bin of $(stat -c '%y' "$salon_bin" 2>/dev/null | cut -d. -f1)"
	echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out/header.txt"

start=$SECONDS
for ((r = 1; r <= reps; r++)); do
	for s in "${scen[@]}"; do
		n=${#srv[@]}
		for ((k = 0; k < n; k++)); do
			sv=${srv[$(((k + r - 1) % n))]}
			echo "=== rep $r/$reps scenario $s server $sv ($((SECONDS - start)) s elapsed)"
			# Each run.sh call is bounded too: a wedged peer cannot
			# hold the comparison.
			timeout --signal=TERM --kill-after=20 900 \
				"$here/run.sh" --server "$sv" --scenario "$s" --rep "$r" --results "$results" \
				--out "$out/rep$r" "${extra[@]}" >"$out/rep$r-$s-$sv.txt" 2>&1 ||
				echo "compare.sh: run.sh --server $sv --scenario $s failed (rc $?), see $out/rep$r-$s-$sv.txt" >&2
			grep -E '^(=== summary|run.sh:|NOTE)' "$out/rep$r-$s-$sv.txt" | grep -v '^=== summary' || true
		done
	done
done

echo
echo "=== medians over $reps repetition(s); ratios salon/peer (↑ higher is better, ↓ lower is better) ==="
cat "$out/header.txt"
echo "# elapsed: $((SECONDS - start)) s; load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
python3 "$here/table.py" --servers "$servers" "$results" | tee "$out/table.md"
echo
echo "results: $results; logs: $out"
