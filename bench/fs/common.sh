# Shell helpers the bench/fs drivers share (sourced, not run).

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
