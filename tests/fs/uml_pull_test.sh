#!/bin/bash
# Pull the stick at random points: inside user-mode Linux, vfat on a
# device-mapper linear target, pershome-fs on top, a workload creating files
# under names that need generated backing names, renaming them, syncing and
# journaling what it synced. Then the target is switched to "error" (every
# later I/O fails, as on a real pull), everything is torn down, and:
#   - pershome-fs --check finds no damaged index,
#   - every file the workload synced is there, under its name, with its data,
#   - fsck.vfat -n finds nothing beyond the dirty bit a pull leaves.
#   uml_pull_test.sh PERSHOME_FS_BINARY [ROUNDS]
set -euo pipefail
FS=$(readlink -f "${1:?pershome-fs binary}")
ROUNDS=${2:-12}
for tool in linux.uml mkfs.vfat mmd; do
    command -v "$tool" >/dev/null || { echo "skipped: $tool missing"; exit 77; }
done
if ldd "$FS" | grep -q 'libasan\|libubsan'; then
    echo "skipped: sanitizer builds do not run inside user-mode Linux"; exit 77
fi
T=$(mktemp -d /tmp/pershome-pull.XXXXXX)
trap 'rm -rf "$T"' EXIT
truncate -s 64M "$T/stick.img"
mkfs.vfat -F 32 -n STICK "$T/stick.img" >/dev/null
mmd -i "$T/stick.img" ::/pershome

cat > "$T/workload.sh" <<'WL'
#!/bin/bash
# workload.sh MNT JOURNAL FIRST: runs until the stick is pulled.
M=$1 J=$2 i=$3
while :; do
    n="p$i?"
    printf '%s\n' "$i" > "$M/$n" || exit 0
    chmod 640 "$M/$n" || exit 0
    if (( i % 3 == 0 )); then mv "$M/$n" "$M/P$i:moved" || exit 0; n="P$i:moved"; fi
    if (( i % 5 == 0 )); then mkdir "$M/d$i*" || exit 0; fi
    sync || exit 0
    printf '%s %s\n' "$i" "$n" >> "$J"
    i=$((i + 1))
done
WL
chmod +x "$T/workload.sh"

cat > "$T/init.sh" <<INIT
#!/bin/bash
exec >$T/inner.log 2>&1
R=$T/result
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t tmpfs tmpfs /run
K=/usr/lib/uml/modules/\$(uname -r)/kernel
for m in fs/nls/nls_cp437 fs/nls/nls_iso8859-1 fs/nls/nls_utf8 fs/fat/fat fs/fat/vfat fs/fuse/fuse drivers/md/dm-mod; do
    insmod \$K/\$m.ko
done
S=$T/stick M=$T/mnt J=$T/journal
mkdir -p \$S \$M
: > \$J
N=\$(blockdev --getsz /dev/ubdb)
next=0
for round in \$(seq $ROUNDS); do
    dmsetup create stick --noudevsync --table "0 \$N linear /dev/ubdb 0"; dmsetup mknodes
    mount -t vfat -o utf8 /dev/mapper/stick \$S || { echo "FAIL round \$round: vfat mount" >>\$R; break; }
    $FS -f -o flush=1 \$S/pershome \$M 2>>$T/fs.log &
    PID=\$!
    for i in \$(seq 200); do grep -q " \$M " /proc/self/mountinfo && break; sleep 0.05; done
    $T/workload.sh \$M \$J \$next &
    WPID=\$!
    sleep 0.\$(( (RANDOM % 9) + 1 ))
    # The pull: every I/O from now on fails.
    dmsetup suspend --noudevsync stick
    dmsetup load stick --table "0 \$N error"
    dmsetup resume --noudevsync stick
    kill -9 \$WPID 2>/dev/null; wait \$WPID 2>/dev/null
    kill -9 \$PID 2>/dev/null; wait \$PID 2>/dev/null
    umount -l \$M; umount -l \$S
    dmsetup remove --noudevsync stick 2>/dev/null || { sleep 0.2; dmsetup remove --noudevsync stick; }
    # The stick, plugged in again.
    fsck.vfat -n /dev/ubdb > $T/fsck.log 2>&1 || true
    if grep -v -e '^fsck.fat' -e 'differences between boot sector' -e 'mostly harmless' \\
        -e '^ *65:0[01]/0[01]' -e 'Not automatically fixing' -e 'Dirty bit is set' \\
        -e 'Automatically removing dirty bit' -e 'Leaving filesystem unchanged' \\
        -e 'files, .* clusters' -e '^\$' $T/fsck.log >/dev/null; then
        echo "FAIL round \$round: fsck.vfat"; cat $T/fsck.log
    fi >>\$R
    mount -t vfat -o utf8 /dev/ubdb \$S
    $FS --check \$S/pershome > $T/check.log 2>&1 || true
    if grep -q 'no index slot verifies\|invalid\|duplicate' $T/check.log; then
        echo "FAIL round \$round: --check"; cat $T/check.log
    fi >>\$R
    $FS -f \$S/pershome \$M 2>>$T/fs.log &
    PID=\$!
    for i in \$(seq 200); do grep -q " \$M " /proc/self/mountinfo && break; sleep 0.05; done
    synced=0
    while read -r k name; do
        synced=\$((synced + 1))
        if [ "\$(cat "\$M/\$name" 2>/dev/null)" != "\$k" ]; then echo "FAIL round \$round: synced file \$k '\$name' missing" >>\$R; fi
        next=\$((k + 1))
    done < \$J
    for f in \$M/*; do
        case "\$(basename "\$f")" in p*\?|P*:moved|d*\*) ;; *) echo "FAIL round \$round: unexpected name '\$f'" >>\$R ;; esac
    done
    echo "round \$round: \$synced synced files checked" >>\$R
    umount \$M; wait \$PID
    umount \$S
done
echo done >>\$R
poweroff -f
INIT
chmod +x "$T/init.sh"
timeout 600 linux.uml mem=512M "ubdb=$T/stick.img" root=/dev/root rootfstype=hostfs rootflags=/ rw \
    "init=$T/init.sh" con=null con0=fd:0,fd:1 </dev/null >"$T/console.log" 2>&1 || true
cat "$T/result" 2>/dev/null || true
if ! grep -q '^done$' "$T/result" 2>/dev/null; then
    echo "UML run did not finish"; tail -30 "$T/inner.log" 2>/dev/null; exit 1
fi
if grep -q FAIL "$T/result"; then tail -20 "$T/fs.log"; exit 1; fi
exit 0
