#!/bin/bash
# A walk of a home of many files: plain `find` (names and types only, as a
# backup or `du`-less script does) and `find -ls` (every entry's attributes,
# as file managers, indexers and `git status` do), cold (page cache dropped,
# every filesystem freshly mounted) and warm (the same walk again), on one
# tree seen directly, through bindfs and through pershome-fs, side by side
# in one run; then what pershome-fs holds after a walk: RSS and open fds.
#   bench-fs-walk.sh PERSHOME_FS [SCRATCH_DIR]
# BENCH_WALK_FILES (default 100000) files in BENCH_WALK_DIRS (default 1000)
# directories (10 top directories of DIRS/10 each), BENCH_WALK_REPS (default
# 3) rounds, the targets interleaved in each; times are medians, ratios the
# median of each round's ratio. Needs root (drop_caches, mounts in a private
# mount namespace); dropping the page cache slows the rest of the machine
# for a moment.
set -euo pipefail
FS=${1:?pershome-fs binary}
SCRATCH=${2:-${TMPDIR:-/var/tmp}}
FILES=${BENCH_WALK_FILES:-100000}
DIRS=${BENCH_WALK_DIRS:-1000}
REPS=${BENCH_WALK_REPS:-3}

# shellcheck source=bench/fs/common.sh
. "$(dirname "$0")/common.sh"
in_private_ns "$@"
make_scratch "$SCRATCH" pershome-walk
mkdir -p "$T/tree" "$T/bindfs" "$T/pershome"

# The tree: made directly (no index anywhere, like a home copied onto a stick).
per_dir=$((FILES / DIRS))
names=$(seq -f 'file %g.txt' "$per_dir" | tr '\n' '\0' | xargs -0 printf '%q ')
for top in $(seq 10); do
    for sub in $(seq $((DIRS / 10))); do
        d="$T/tree/top$top/dir $sub"
        mkdir -p "$d"
        (cd "$d" && eval "touch $names")
    done
done
echo "walk: $((DIRS / 10 * 10 * per_dir)) files in $((DIRS / 10 * 10)) directories (+10)"

mount_bindfs() { bindfs "$T/tree" "$T/bindfs" && wait_mounted "$T/bindfs"; }
mount_pershome() {
    "$FS" -f "$T/tree" "$T/pershome" 2>>"$T/pershome.log" &
    PH_PID=$!
    wait_mounted "$T/pershome"
}
remount() {  # remount TARGET: a fresh mount, nothing of an earlier walk kept
    case $1 in
        bindfs) umount "$T/bindfs" && mount_bindfs ;;
        pershome) umount "$T/pershome" && wait "$PH_PID" && mount_pershome ;;
    esac
}
mount_bindfs
mount_pershome

dir_of() { case $1 in direct) echo "$T/tree" ;; *) echo "$T/$1" ;; esac; }
secs() {  # secs CMD...: wall seconds of CMD, its output dropped
    local s e
    s=$(date +%s.%N)
    "$@" > /dev/null
    e=$(date +%s.%N)
    awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f", e - s }'
}
declare -A R
walk() {  # walk TARGET NAME FIND-ARGS...: cold, then warm
    local target=$1 name=$2 dir
    shift 2
    dir=$(dir_of "$target")
    [ "$target" = direct ] || remount "$target"
    sync
    echo 3 > /proc/sys/vm/drop_caches
    R[$target,$name cold]+=" $(secs find "$dir" "$@")"
    R[$target,$name warm]+=" $(secs find "$dir" "$@")"
}
for _ in $(seq "$REPS"); do
    for target in direct bindfs pershome; do
        walk "$target" find
        walk "$target" "find -ls" -ls
    done
done

printf '%-16s %9s %9s %11s %11s %12s\n' workload direct bindfs pershome-fs "vs bindfs" "vs direct"
for w in "find cold" "find warm" "find -ls cold" "find -ls warm"; do
    printf '%-16s %8ss %8ss %10ss %10sx %11sx\n' "$w" \
        "$(median "${R[direct,$w]}")" "$(median "${R[bindfs,$w]}")" \
        "$(median "${R[pershome,$w]}")" \
        "$(paired "${R[bindfs,$w]}" "${R[pershome,$w]}")" \
        "$(paired "${R[direct,$w]}" "${R[pershome,$w]}")"
done

# What a fresh mount holds after one walk of each kind.
for kind in find "find -ls"; do
    remount pershome
    # shellcheck disable=SC2086  # $kind's -ls is an argument of its own
    find "$T/pershome" ${kind#find} > /dev/null
    rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$PH_PID/status")
    fds=$(find "/proc/$PH_PID/fd" -mindepth 1 | wc -l)
    echo "after one $kind: pershome-fs RSS $((rss / 1024)) MiB, $fds open fds"
done
