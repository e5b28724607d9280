#!/bin/bash
# Benchmarks pershome-fs against the same backing directory accessed directly
# and through bindfs (a generic FUSE passthrough), side by side in one run.
#   bench-fs.sh PERSHOME_FS WORKLOAD_BINARY [SCRATCH_DIR]
# BENCH_FS_SIZE_MB (default 1024) sets the sequential file size,
# BENCH_FS_SMALL (default 10000) the number of small files, BENCH_FS_REPS
# (default 5) the rounds: speeds are medians, ratios the median of each
# round's ratio. The last column is a control: the direct workload again,
# on a second directory, against direct. On a VM that hands freed memory
# back to its host, each timed run first waits for that and warms
# BENCH_FS_WARM_MB (default 2 x size + 512) MiB; BENCH_FS_WARM_MB=0: off.
# Runs itself in a private mount namespace; needs root (FUSE allow_other-free).
set -euo pipefail
FS=${1:?pershome-fs binary}
WL=${2:?workload binary}
SCRATCH=${3:-${TMPDIR:-/var/tmp}}
SIZE=${BENCH_FS_SIZE_MB:-1024}
SMALL=${BENCH_FS_SMALL:-10000}

# shellcheck source=bench/fs/common.sh
. "$(dirname "$0")/common.sh"
in_private_ns "$@"
make_scratch "$SCRATCH" pershome-bench
mkdir -p "$T/direct" "$T/again" "$T/bindfs-backing" "$T/bindfs" "$T/pershome-backing" "$T/pershome"

bindfs "$T/bindfs-backing" "$T/bindfs"
wait_mounted "$T/bindfs"
"$FS" -f -o flush=5 "$T/pershome-backing" "$T/pershome" 2>"$T/pershome.log" &
PH_PID=$!
wait_mounted "$T/pershome"

# A VM that reports its free pages to the host (virtio-balloon feature bit 5)
# makes whoever touches them next pay the host's page faults: then each
# timed run first lets the reporter finish and warms enough memory for
# itself (see settle_and_warm_memory in workload.cpp).
reporting=
for d in /sys/bus/virtio/devices/*; do
    [ "$(cat "$d/device" 2>/dev/null)" = 0x0005 ] || continue
    [ "$(cut -c6 "$d/features" 2>/dev/null)" = 1 ] && reporting=1
done
if [ -n "$reporting" ] && [ -z "${BENCH_FS_WARM_MB+set}" ]; then
    avail=$(awk '/^MemAvailable/ { print int($2 / 1024) }' /proc/meminfo)
    BENCH_FS_WARM_MB=$((2 * SIZE + 512))
    [ "$BENCH_FS_WARM_MB" -gt $((avail / 2)) ] && BENCH_FS_WARM_MB=$((avail / 2))
fi
if [ -n "${BENCH_FS_WARM_MB:-}" ] && [ "$BENCH_FS_WARM_MB" != 0 ]; then
    export BENCH_FS_WARM_MB
    echo "memory: this VM returns freed pages to its host; each timed run waits for" \
         "that to settle and warms ${BENCH_FS_WARM_MB} MiB first (BENCH_FS_WARM_MB=0: off)"
fi

# Each timed workload runs REPS times, the four targets interleaved in each
# round so that a noisy neighbour hits them alike; the median counts.
REPS=${BENCH_FS_REPS:-5}
declare -A R
run() {  # run NAME WORKLOAD ARGS...  (appends the time to R[NAME,WORKLOAD])
    local name=$1 dir
    shift
    case $name in
        direct) dir=$T/direct ;;
        again) dir=$T/again ;;
        bindfs) dir=$T/bindfs ;;
        pershome) dir=$T/pershome ;;
    esac
    local wl=$1
    shift
    local extra=() t
    if [ "$wl" = read ]; then
        case $name in
            bindfs) extra=("$T/bindfs-backing/big") ;;
            pershome) extra=("$T/pershome-backing/big") ;;
        esac
        t=$("$WL" read "$dir" "${extra[@]}")
    else
        t=$("$WL" "$wl" "$dir" "$@")
    fi
    R[$name,$wl]="${R[$name,$wl]:-} $t"
}

# "again" is the direct workload a second time, on a directory of its own:
# its ratio to direct is what a filesystem exactly as fast as the backing
# would score in this run, i.e. how noisy the machine was.
# The order rotates from round to round: without the warming above,
# whichever target runs first after the previous round (or after the caches
# were dropped) pays for the pages this VM's host has taken back, and no
# target should always be that one.
ORDERS=("direct bindfs pershome again" "bindfs pershome again direct"
        "pershome again direct bindfs" "again direct bindfs pershome")
rounds() {  # rounds WORKLOAD ARGS...
    local r target
    for r in $(seq 0 $((REPS - 1))); do
        for target in ${ORDERS[r % 4]}; do run "$target" "$@"; done
    done
}
rounds write "$SIZE"
rounds read
for target in direct again bindfs pershome; do
    rm -f "$T/$target/big" "$T/$target-backing/big" 2>/dev/null || true
done
rounds small "$SMALL"

# The storm gets a pershome-fs of its own, so that its index-write counter
# (logged at unmount) counts the storm alone.
umount "$T/pershome"
wait "$PH_PID" || true
# Whether its reads passed through the kernel (passthrough=, pershome-fs(1)).
READS=$(sed -n 's/^pershome-fs: read requests for \(.*\)/\1/p' "$T/pershome.log")
rm -rf "$T/pershome-backing" && mkdir "$T/pershome-backing"
"$FS" -f -o flush=5 "$T/pershome-backing" "$T/pershome" 2>"$T/pershome.log" &
PH_PID=$!
wait_mounted "$T/pershome"
wchar() { awk '/^wchar/ {print $2}' "/proc/$PH_PID/io"; }
run direct storm
run bindfs storm
W0=$(wchar)
run pershome storm
W1=$(wchar)
umount "$T/pershome"
wait "$PH_PID" || true
PH_PID=
WRITES=$(sed -n 's/.*pershome-fs: \([0-9]*\) index writes.*/\1/p' "$T/pershome.log")
BYTES=$(sed -n 's/.*index writes, \([0-9]*\) bytes.*/\1/p' "$T/pershome.log")

# Speed of pershome relative to another target: paired "TIMES_OF_PERSHOME"
# "TIMES_OF_OTHER" (common.sh), the median of the ratios within each round.
printf '%-34s %10s %10s %10s %12s %12s %12s\n' workload direct bindfs pershome "pershome/dir" \
    "pershome/bindfs" "again/dir"
line() {  # line LABEL WL UNIT_AMOUNT UNIT  (speed = amount / seconds)
    local label=$1 wl=$2 amount=$3 unit=$4
    local d b p
    d=$(median "${R[direct,$wl]}") b=$(median "${R[bindfs,$wl]}") p=$(median "${R[pershome,$wl]}")
    local sd sb sp
    sd=$(awk -v a="$amount" -v t="$d" 'BEGIN { printf "%.1f", a / t }')
    sb=$(awk -v a="$amount" -v t="$b" 'BEGIN { printf "%.1f", a / t }')
    sp=$(awk -v a="$amount" -v t="$p" 'BEGIN { printf "%.1f", a / t }')
    printf '%-34s %10s %10s %10s %12s %12s %12s\n' "$label ($unit)" "$sd" "$sb" "$sp" \
        "$(paired "${R[pershome,$wl]}" "${R[direct,$wl]}")" \
        "$(paired "${R[pershome,$wl]}" "${R[bindfs,$wl]}")" \
        "$([ -n "${R[again,$wl]:-}" ] && paired "${R[again,$wl]}" "${R[direct,$wl]}" || echo -)"
}
line "seq write ${SIZE} MiB + fsync" write "$SIZE" "MiB/s"
line "cold read ${SIZE} MiB" read "$SIZE" "MiB/s"
line "create+stat+unlink ${SMALL} files" small "$SMALL" "files/s"
line "chmod/utime storm 10000" storm 10000 "ops/s"
STORM_S=$(median "${R[pershome,storm]}")
LIMIT=$(awk -v s="$STORM_S" 'BEGIN { printf "%d", int(s / 5 + 0.999) + 2 }')
echo "reads: pershome-fs got read requests for ${READS:-?} (all rounds)"
echo "storm: pershome-fs wrote the index $WRITES times ($BYTES bytes) for it" \
     "(storm ${STORM_S} s: target <= $LIMIT writes for it)"
# wchar also counts the replies written to /dev/fuse, so it bounds, not
# measures, what reached the backing.
echo "storm: wchar of the pershome-fs process during its storm: $((W1 - W0)) bytes (includes /dev/fuse replies)"
