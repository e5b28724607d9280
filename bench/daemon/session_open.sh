#!/usr/bin/env bash
# Session open with a 1,000-file skel: pam_pershome.so + pershomed against
# Linux-PAM's own pam_mkhomedir.so, alternated in one run, median of N rounds
# each; then pershomed's idle RSS and wake-ups. Runs in a private mount
# namespace: a temp copy of /etc/passwd with the bench users is bind-mounted
# over /etc/passwd there (pam_mkhomedir's helper runs with a clean
# environment and reads the real file), so nothing on the machine changes.
# usage: bench/daemon/session_open.sh BUILD_DIR [ROUNDS]
set -euo pipefail
if [ "${PERSHOME_IN_PRIVATE_NS:-}" != 1 ]; then
    exec "$(dirname "$0")/../../scripts/private-ns" "$0" "$@"
fi
build=$(cd "${1:?usage: session_open.sh BUILD_DIR [ROUNDS]}" && pwd)
rounds=${2:-15}
src=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d /tmp/pershome-bench.XXXXXX)
chmod 0755 "$T"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    umount /etc/passwd /etc/group 2>/dev/null || true
    rm -rf --one-file-system "$T"
}
trap cleanup EXIT

security=$(dirname "$(find /lib/*/security /usr/lib/*/security -name pam_mkhomedir.so 2>/dev/null | head -1)")

# A 1,000-file skeleton in 50 directories, small files of mixed sizes.
mkdir -m 0755 "$T/skel" "$T/ours" "$T/mk" "$T/pam.d"
for d in $(seq 1 50); do
    mkdir "$T/skel/dir$d"
    for f in $(seq 1 20); do head -c $(( (d * f * 37) % 8192 )) /dev/urandom > "$T/skel/dir$d/file$f"; done
done
find "$T/skel" -type f | wc -l | xargs printf 'skel: %s files\n'

cp /etc/passwd "$T/passwd"; cp /etc/group "$T/group"
for i in $(seq 1 "$rounds"); do
    echo "bo$i:x:$((30000 + i)):$((30000 + i))::$T/ours/bo$i:/bin/sh" >> "$T/passwd"
    echo "bm$i:x:$((31000 + i)):$((31000 + i))::$T/mk/bm$i:/bin/sh" >> "$T/passwd"
    echo "bo$i:x:$((30000 + i)):" >> "$T/group"; echo "bm$i:x:$((31000 + i)):" >> "$T/group"
done
mount --bind "$T/passwd" /etc/passwd
mount --bind "$T/group" /etc/group

echo "session required $build/pam-shim/pam_pershome.so tmphome=$T/ours/ skel=$T/skel/ umask=0077" > "$T/pam.d/ours"
echo "session required $security/pam_mkhomedir.so skel=$T/skel/ umask=0077" > "$T/pam.d/mk"

sed -e "s|@SOCKET@|$T/bus|" -e "s|@POLICY@|$src/systemd/org.pershome1.conf|" \
    "$src/tests/integration/system-bus.conf.in" > "$T/bus.conf"
dbus-daemon --config-file="$T/bus.conf" --nofork --nopidfile --print-address=3 3>"$T/bus.addr" 2>/dev/null &
pids+=($!)
export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$T/bus"
for _ in $(seq 200); do [ -s "$T/bus.addr" ] && break; sleep 0.05; done
echo "{ \"state_dir\": \"$T/state\", \"log_level\": \"warning\" }" > "$T/pershomed.json"
"$build/daemon/pershomed" --config "$T/pershomed.json" 2>"$T/pershomed.log" &
daemon=$!
pids+=($daemon)
for _ in $(seq 200); do busctl --system status org.pershome1 >/dev/null 2>&1 && break; sleep 0.05; done

# One login as a display manager does it (pershome-pam-login): the time is
# from its start to pam_open_session's return, for both modules alike; the
# home is checked while the session is still open, then it logs out.
open_session() {  # SERVICE USER HOME -> prints microseconds
    local t0 t1 line
    t0=$(date +%s%N)
    coproc LOGIN { PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$T/pam.d" LD_PRELOAD=libpam_wrapper.so \
                   "$build/tests/integration/pershome-pam-login" "$1" "$2" 2>/dev/null; }
    while read -r line <&"${LOGIN[0]}"; do [[ $line == open* ]] && break; done
    t1=$(date +%s%N)
    case $line in "open 0 "*) ;; *) echo "$1: login of $2 failed: $line" >&2; cat "$T/pershomed.log" >&2; exit 1 ;; esac
    [ -f "$3/dir50/file20" ] || { echo "$1: home $3 incomplete" >&2; exit 1; }
    echo close >&"${LOGIN[1]}"
    wait "$LOGIN_PID" || true
    echo $(( (t1 - t0) / 1000 ))
}
ours=(); mk=()
for i in $(seq 1 "$rounds"); do
    # Alternate which goes first, so drift in the machine's speed hits both.
    for which in $( ((i % 2)) && echo "ours mk" || echo "mk ours"); do
        if [ "$which" = ours ]; then
            ours+=("$(open_session ours "bo$i" "$T/ours/bo$i")")
            # Logged out: wait for the removal, outside the timing.
            for _ in $(seq 400); do [ -e "$T/ours/bo$i" ] || break; sleep 0.01; done
        else
            mk+=("$(open_session mk "bm$i" "$T/mk/bm$i")")
            rm -rf "$T/mk/bm$i"
        fi
    done
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mo=$(median "${ours[@]}"); mm=$(median "${mk[@]}")
ratio=$(awk -v a="$mo" -v b="$mm" 'BEGIN {printf "%.2f", a / b}')
verdict=$(awk -v r="$ratio" 'BEGIN {print (r <= 1.2) ? "PASS" : "MISS"}')
printf '\nsession open, 1,000-file skel, median of %d (login start to pam_open_session return)\n' "$rounds"
printf '  pam_pershome + pershomed  %8.1f ms\n' "$(awk -v x="$mo" 'BEGIN {print x / 1000}')"
printf '  pam_mkhomedir             %8.1f ms\n' "$(awk -v x="$mm" 'BEGIN {print x / 1000}')"
printf '  ratio ours/mkhomedir      %8s    target <= 1.2  %s\n' "$ratio" "$verdict"

# Idle: RSS, and context switches of all threads over a quiet interval
# (each wake-up from poll or a condition variable is at least one).
sleep 1
switches() { cat /proc/"$daemon"/task/*/status | awk '/ctxt_switches/ {s += $2} END {print s}'; }
rss=$(awk '/VmRSS/ {print $2}' /proc/"$daemon"/status)
s0=$(switches); sleep 5; s1=$(switches)
printf '\npershomed idle\n'
printf '  RSS                       %8.1f MiB  target < 10 MiB  %s\n' "$(awk -v k="$rss" 'BEGIN {print k / 1024}')" \
    "$(awk -v k="$rss" 'BEGIN {print (k < 10240) ? "PASS" : "MISS"}')"
printf '  wake-ups in 5 s idle      %8d      target 0  %s\n' "$((s1 - s0))" "$([ $((s1 - s0)) = 0 ] && echo PASS || echo MISS)"
