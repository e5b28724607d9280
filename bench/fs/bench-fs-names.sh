#!/bin/bash
# Creates under names FAT cannot hold ("Report: draft I?.txt", each given a
# generated backing name and an index entry) against creates under names it
# can ("Report draft I.txt"), on one pershome-fs mount, side by side in one
# run, at 1,000 and 10,000 creates per directory; then the index writes and
# bytes that 10,000 creates of each kind cost, each on a mount of its own.
#   bench-fs-names.sh PERSHOME_FS WORKLOAD_BINARY [SCRATCH_DIR]
# BENCH_FS_REPS (default 3) rounds, the two kinds in alternating order; the
# ratio is the median of each round's mapped/plain time.
# Runs itself in a private mount namespace; needs root.
set -euo pipefail
FS=${1:?pershome-fs binary}
WL=${2:?workload binary}
SCRATCH=${3:-${TMPDIR:-/var/tmp}}
REPS=${BENCH_FS_REPS:-3}
FLUSH=5

# shellcheck source=bench/fs/common.sh
. "$(dirname "$0")/common.sh"
in_private_ns "$@"
make_scratch "$SCRATCH" pershome-bench-names
mkdir -p "$T/mnt"

mount_fresh() {  # a new backing, mounted at $T/mnt, log in $T/log
    rm -rf "$T/backing" && mkdir "$T/backing"
    "$FS" -f -o flush=$FLUSH "$T/backing" "$T/mnt" 2>"$T/log" &
    PH_PID=$!
    wait_mounted "$T/mnt"
}
unmount() {
    umount "$T/mnt"
    wait "$PH_PID" || true
    PH_PID=
}

declare -A R
mount_fresh
for n in 1000 10000; do
    for r in $(seq 0 $((REPS - 1))); do
        order="plain mapped"
        [ $((r % 2)) = 1 ] && order="mapped plain"
        for kind in $order; do
            dir=$T/mnt/$kind-$n-$r
            mkdir "$dir"
            R[$kind,$n]="${R[$kind,$n]:-} $("$WL" creates "$dir" "$n" "$kind")"
        done
    done
done
unmount

printf '%-28s %12s %12s %14s %8s\n' "creates in one directory" "plain (s)" "mapped (s)" "mapped/plain" target
for n in 1000 10000; do
    printf '%-28s %12s %12s %14s %8s\n' "$n" "$(median "${R[plain,$n]}")" \
        "$(median "${R[mapped,$n]}")" "$(paired "${R[plain,$n]}" "${R[mapped,$n]}")" "<= 1.50"
done

# Index writes: a mount per kind, so that the count at unmount is its own.
for kind in plain mapped; do
    mount_fresh
    mkdir "$T/mnt/d"
    t=$("$WL" creates "$T/mnt/d" 10000 "$kind")
    unmount
    writes=$(sed -n 's/.*pershome-fs: \([0-9]*\) index writes.*/\1/p' "$T/log")
    bytes=$(sed -n 's/.*index writes, \([0-9]*\) bytes.*/\1/p' "$T/log")
    size=$(stat -c %s "$T/backing/d/PERSHOME.IDX")
    intervals=$(awk -v t="$t" -v f=$FLUSH 'BEGIN { printf "%d", int(t / f + 0.999) }')
    echo "index, 10000 $kind creates in ${t} s ($intervals flush=$FLUSH intervals):" \
        "$writes writes (mount's root included), $bytes bytes;" \
        "final index file $size bytes: bytes/size $(awk -v b="$bytes" -v s="$size" 'BEGIN { printf "%.2f", b / s }')" \
        "(target: <= 2; writes <= $((2 * (intervals + 1))): d and the root, which holds d's times," \
        "each at most once per interval and once at unmount)"
done
