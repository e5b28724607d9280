# Shell helpers the bench/fs drivers share (sourced, not run).

# in_private_ns "$@": runs the sourcing script again in a private mount
# namespace (once), so nothing it mounts leaks to the machine.
in_private_ns() {
    [ -n "${BENCH_FS_IN_NS:-}" ] && return 0
    BENCH_FS_IN_NS=1 exec unshare -m --propagation private "$0" "$@"
}

# make_scratch DIR NAME: a fresh $T under DIR; at exit every mount under it
# is unmounted, pershome-fs ($PH_PID, if set) waited for, and $T removed.
make_scratch() {
    T=$(mktemp -d "$1/$2.XXXXXX")
    PH_PID=
    trap cleanup_scratch EXIT
}
cleanup_scratch() {
    local m
    for m in $(awk -v t="$T/" 'index($2, t) == 1 { print $2 }' /proc/self/mounts); do
        umount "$m"
    done
    [ -n "$PH_PID" ] && wait "$PH_PID" 2>/dev/null || true
    rm -rf "$T"
}

wait_mounted() {  # wait_mounted DIR: until DIR is a mount point, or exit 1
    for _ in $(seq 200); do
        mountpoint -q "$1" && return 0
        sleep 0.05
    done
    echo "$(basename "$0"): $1 did not mount" >&2
    exit 1
}

# The median of a list of numbers separated by spaces.
median() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# paired "TIMES_A" "TIMES_B": the median over rounds of B/A, each round's
# two times taken back to back (drift between rounds cancels out).
paired() {
    awk -v p="$1" -v o="$2" 'BEGIN {
        n = split(p, tp, " "); split(o, to, " ")
        for (i = 1; i <= n; i++) r[i] = (tp[i] > 0 ? to[i] / tp[i] : 0)
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (r[j] < r[i]) { t = r[i]; r[i] = r[j]; r[j] = t }
        printf "%.2f", r[int((n + 1) / 2)] }'
}
# each_round "TIMES_A" "TIMES_B": every round's B/A, in round order: how far
# the rounds spread around the median that paired gives.
each_round() {
    awk -v p="$1" -v o="$2" 'BEGIN {
        n = split(p, tp, " "); split(o, to, " ")
        for (i = 1; i <= n; i++) printf "%s%.2f", (i > 1 ? " " : ""), (tp[i] > 0 ? to[i] / tp[i] : 0) }'
}
# load_average: the machine's 1-minute load average (figures depend on it).
load_average() { cut -d' ' -f1 /proc/loadavg; }
