#!/usr/bin/env bash
# Peer comparison of the simulator: the same M/M/c queue in `embatch sim`
# and in SimPy (bench/simpy/mmc.py), side by side. Not run in CI.
#
#   sudo apt-get install python3-simpy python3-simpy3   # Debian: SimPy 2.3 and 3.0
#   bench/simpy/compare.sh                   # 100,000 and 1,000,000 customers, 3 rounds
#   SIZES="20000" ROUNDS=1 bench/simpy/compare.sh        # quick look
#   EMBATCH=/path/to/embatch bench/simpy/compare.sh      # a prebuilt binary
#   RUNS=runs.jsonl bench/simpy/compare.sh               # keep every run's JSON
#
# Model: Poisson arrivals at LAMBDA (default 3.6/s), exponential service of
# mean 1/MU (1 s), C servers (4), FCFS: load 0.9. For each size and round,
# alternating: embatch sim with the synthetic workload (its own draws, seed
# = round), SimPy 3 and SimPy 2 (seed = round). events/s is arrivals plus
# completions per second of event loop on every side (embatch's kernel
# count is that plus C node-ups); SimPy's own scheduler count is shown
# apart. Once per size, embatch also runs SimPy's very customers (written
# as an SWF trace): the two mean waits must then agree to the nanosecond
# rounding of embatch's clock, whatever the sampling error against Erlang C.
set -euo pipefail

cd "$(dirname "$0")/../.."
SIZES=${SIZES:-"100000 1000000"}
ROUNDS=${ROUNDS:-3}
C=${C:-4}
LAMBDA=${LAMBDA:-3.6}
MU=${MU:-1}
PY=${PYTHON:-/usr/bin/python3} # Debian's python3 sees python3-simpy{,3}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -z "${EMBATCH:-}" ]; then
	EMBATCH=$work/embatch
	go build -o "$EMBATCH" ./cmd/embatch
	built="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo +dirty)"
else
	built=$EMBATCH
fi
mean=$("$PY" -c "print(repr(1/float('$MU')))")
out=$work/runs.jsonl

# timed TOOL CMD...: run CMD, append its JSON line with the tool name and
# the process's real seconds and CPU seconds (user + sys) to $out.
timed() {
	local tool=$1
	shift
	local TIMEFORMAT='%R %U %S' t line
	{ t=$({ time "$@" >"$work/line" 2>"$work/err"; } 2>&1); } || {
		cat "$work/err" >&2
		exit 1
	}
	line=$(cat "$work/line")
	read -r real user sys <<<"$t"
	printf '{"tool":"%s","proc_real_s":%s,"proc_cpu_s":%s,"run":%s}\n' \
		"$tool" "$real" "$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.3f", u + s }')" "$line" >>"$out"
	echo "$tool: $line" | cut -c1-200 >&2
}

echo "# $(date -u +%FT%TZ) $(uptime)" >&2
echo "# embatch $built, $(go version | cut -d' ' -f3), $("$PY" --version), $(nproc) cores" >&2
for n in $SIZES; do
	for r in $(seq 1 "$ROUNDS"); do
		timed embatch "$EMBATCH" sim --arrival "poisson:$LAMBDA" --runtime "exp:$mean" \
			--tasks "$n" --nodes "$C" --policy fcfs --seed "$r" --json
		swf=()
		[ "$r" = 1 ] && swf=(--swf "$work/mmc.swf")
		timed simpy3 "$PY" bench/simpy/mmc.py --api 3 --n "$n" --c "$C" --lam "$LAMBDA" --mu "$MU" --seed "$r" "${swf[@]}"
		timed simpy2 "$PY" bench/simpy/mmc.py --api 2 --n "$n" --c "$C" --lam "$LAMBDA" --mu "$MU" --seed "$r"
		if [ "$r" = 1 ]; then
			timed embatch-trace "$EMBATCH" sim --swf "$work/mmc.swf" --nodes "$C" --policy fcfs --json
			rm -f "$work/mmc.swf"
		fi
	done
done
echo "# $(date -u +%FT%TZ) $(uptime)" >&2
[ -z "${RUNS:-}" ] || cp "$out" "$RUNS"

"$PY" - "$out" "$C" "$LAMBDA" "$MU" <<'PYEOF'
import json, statistics, sys
sys.path.insert(0, "bench/simpy")
from mmc import mmc_wait

path, c, lam, mu = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
want = mmc_wait(c, lam, mu)
rows = [json.loads(l) for l in open(path)]
by = {}
for r in rows:
    by.setdefault((r["run"]["tasks"], r["tool"]), []).append(r)

def model_eps(r):  # arrivals + completions per second of event loop
    return 2 * r["run"]["tasks"] / r["run"]["wall_s"]

def cpu_eps(r):  # the same per CPU-second of the whole process
    return 2 * r["run"]["tasks"] / r["proc_cpu_s"]

print(f"M/M/{c}, lambda={lam:g}, mu={mu:g} (rho={lam/(c*mu):.2f}); Erlang C mean wait {want:.4f} s")
print("events = arrivals + completions (2 per customer) on every side; medians of the rounds")
print("  ev/s loop: per second of event-loop wall time [min-max]")
print("  ev/CPU-s:  per CPU-second of the whole process (startup, draws, setup, GC threads included)")
print(f"{'tasks':>9} {'tool':<14} {'rounds':>6} {'ev/s loop':>10} {'[min-max]':>17} {'ev/CPU-s':>9} {'own ev/cust':>11} {'wait mean':>9} {'vs ErlangC':>10}")
for n in sorted({k[0] for k in by}):
    med, cmed = {}, {}
    for tool in ("embatch", "simpy3", "simpy2", "embatch-trace"):
        rs = by.get((n, tool))
        if not rs:
            continue
        eps = [model_eps(r) for r in rs]
        med[tool] = statistics.median(eps)
        cmed[tool] = statistics.median(cpu_eps(r) for r in rs)
        own = statistics.mean(r["run"].get("kernel_events", r["run"]["events"]) / n for r in rs)
        w = statistics.mean(r["run"]["wait_mean_s"] for r in rs)
        print(f"{n:>9} {tool:<14} {len(rs):>6} {med[tool]:>10.0f} {min(eps):>8.0f}-{max(eps):<8.0f} {cmed[tool]:>9.0f} {own:>11.2f} {w:>9.4f} {100*(w-want)/want:>+9.2f}%")
    for peer in ("simpy3", "simpy2"):
        if "embatch" in med and peer in med:
            print(f"{n:>9} embatch/{peer}: {med['embatch']/med[peer]:.2f}x per loop second, {cmed['embatch']/cmed[peer]:.2f}x per CPU-second")
    t = by.get((n, "embatch-trace"))
    s = [r for r in by.get((n, "simpy3"), []) if r["run"]["seed"] == 1]
    if t and s:
        a, b = t[0]["run"]["wait_mean_s"], s[0]["run"]["wait_mean_s"]
        print(f"{n:>9} same customers (seed 1): embatch {a:.9f} s, simpy3 {b:.9f} s, difference {abs(a-b):.1e} s")
PYEOF
