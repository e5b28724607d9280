#!/bin/bash
# pjdfstest in its single-owner form inside a pershome-fs mount: on this
# machine (the backing: SCRATCH_DIR's filesystem), then in user-mode Linux
# over a FAT32 image under the kernel's vfat, as on a stick. A manual check,
# not a ctest: pjdfstest is no Debian package, so bring a built copy
# (autoreconf -ifs && ./configure && make, outside this repo).
#   pjdfstest.sh PERSHOME_FS PJDFSTEST_DIR [SCRATCH_DIR]
# PJDFSTEST_WHERE=host|uml (default both). PJDFSTEST_FILES="rename/24.t ...":
# these files only. PJDFSTEST_KEEP=DIR: the TAP logs (host.tap, uml.tap)
# are copied there. Prints each failing file with its failed subtests, then
# one total line per place; exits non-zero if any file failed.
#
# Single-owner: every file of a pershome-fs home shows as its user's (owners
# are not kept on the stick), device nodes are refused and setuid, setgid and
# sticky bits dropped, so the test files that switch uid or gid, chown, make
# block or character nodes or set those bits are left out (and chown/,
# chflags/, granular/ whole): about 132 of pjdfstest's files, 551 subtests.
set -euo pipefail
FS=$(realpath "${1:?pershome-fs binary}")
PJD=$(realpath "${2:?pjdfstest dir (built)}")
SCRATCH=${3:-${TMPDIR:-/var/tmp}}
WHERE=${PJDFSTEST_WHERE:-host uml}
[ -x "$PJD/pjdfstest" ] || { echo "no built pjdfstest in $PJD (autoreconf -ifs && ./configure && make)" >&2; exit 2; }

# shellcheck source=bench/fs/common.sh
. "$(dirname "$0")/common.sh"
# shellcheck source=bench/fs/uml.sh
. "$(dirname "$0")/uml.sh"
in_private_ns "$@"
make_scratch "$SCRATCH" pershome-pjdfstest
chmod 0755 "$T"

# The files a one-owner home must pass, relative to tests/.
single_owner_files() {
    (cd "$PJD/tests" && for f in */*.t; do
        case $f in chown/* | chflags/* | granular/*) continue ;; esac
        grep -qE -- '-u [0-9]|-g [0-9]|chown|mknod .* [bc] |0[1-7][0-7]{3}|nobody|for type in c b' "$f" && continue
        grep -qE '^for type in .*(block|char)' "$f" && continue
        echo "$f"
    done)
}
FILES=${PJDFSTEST_FILES:-$(single_owner_files | tr '\n' ' ')}
# The guest's /tmp is its own: pjdfstest goes where the guest sees it.
mkdir "$T/pjd"
cp -a "$PJD/pjdfstest" "$PJD/tests" "$T/pjd/"
TEST_PATHS=$(for f in $FILES; do printf '%s ' "$T/pjd/tests/$f"; done)

# summarize WHERE TAP_LOG: the failing files with their counts, one total.
# Subtests a file planned but never reported (it died) count as failed; a
# "not ok # TODO" (known to differ on Linux) passes, as prove counts it.
summarize() {
    awk -v where="$1" '
        function done_file() {
            if (file == "") return
            if (good + bad < plan) bad = plan - good
            files++; if (bad) { failed_files++; printf "  %s: %s failed %d of %d\n", where, file, bad, bad + good }
            tests += good + bad; failed += bad
        }
        /^\/.*\.t \.+/ { done_file(); file = $1; sub(/.*\/tests\//, "", file); good = bad = plan = 0; next }
        /^1\.\.[0-9]+/ { plan = substr($1, 4) + 0; next }
        /^not ok .*# TODO/ { good++; next }
        /^not ok / { bad++; next }
        /^ok / { good++ }
        END { done_file()
              printf "%s: %d files, %d passed, %d failed; %d subtests, %d failed\n",
                     where, files, files - failed_files, failed_files, tests, failed }' "$2"
}

status=0
if [[ " $WHERE " == *" host "* ]]; then
    mkdir "$T/backing" "$T/mnt"
    "$FS" -f "$T/backing" "$T/mnt" 2> "$T/host-fs.log" &
    PH_PID=$!
    wait_mounted "$T/mnt"
    echo "host, backing $(stat -f -c %T "$T/backing"): pjdfstest in $T/mnt"
    # shellcheck disable=SC2086  # a list
    (cd "$T/mnt" && prove -v $TEST_PATHS) > "$T/host.tap" 2>&1 || true
    umount "$T/mnt"
    wait "$PH_PID" || echo "pershome-fs: exit status $?" >&2
    PH_PID=
    summarize host "$T/host.tap" | tee "$T/host.sum"
    grep -q ', 0 failed; ' "$T/host.sum" || status=1
fi
if [[ " $WHERE " == *" uml "* ]]; then
    why=$(uml_missing)
    if [ -n "$why" ]; then
        echo "uml: not run: $why"
        status=1
    else
        # open/25.t writes at 2 GiB + 1: FAT has no holes, so the stick
        # must hold 2 GiB (sparse here until written).
        uml_fat32 "$T/stick.img" 3072
        cat > "$T/guest.sh" << EOF
mkdir -p /run/stick /run/home
check vfat mount -t vfat -o shortname=mixed,utf8 /dev/ubdb /run/stick || exit 1
mkdir /run/stick/pershome
'$FS' -f /run/stick/pershome /run/home 2> '$T/uml-fs.log' &
fs=\$!
check mounted wait_until 20 mountpoint -q /run/home || exit 1
(cd /run/home && prove -v $TEST_PATHS) > '$T/uml.tap' 2>&1
umount /run/home && wait_pid \$fs 60
check fs-exit test \$? = 0
umount /run/stick
check fsck fsck.vfat -n /dev/ubdb
EOF
        echo "uml: kernel vfat (FAT32 image, shortname=mixed,utf8), pjdfstest in pershome-fs over it"
        uml_run "$T" "$T/guest.sh" 7200 "ubdb=$T/stick.img" | grep '^@@fail' || true
        summarize uml "$T/uml.tap" | tee "$T/uml.sum"
        grep -q ', 0 failed; ' "$T/uml.sum" || status=1
    fi
fi
[ -z "${PJDFSTEST_KEEP:-}" ] || cp "$T"/*.tap "$PJDFSTEST_KEEP/"
exit $status
