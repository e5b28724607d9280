#!/bin/bash
# pershome-fs on the Linux kernel's own vfat driver, inside user-mode Linux
# (the brief's whole-system substrate): a real FAT32 image, mount -t vfat,
# pershome-fs on top. Afterwards, on the host: fsck.vfat -n is clean and
# mtools shows FAT-legal names as themselves and the index hidden.
#   uml_vfat_test.sh PERSHOME_FS_BINARY STORM_WORKLOAD_BINARY
# Exit 77 (skipped) without user-mode Linux or FAT tools.
set -euo pipefail
FS=$(readlink -f "${1:?pershome-fs binary}")
WL=$(readlink -f "${2:?workload binary (bench/fs)}")
for tool in linux.uml mkfs.vfat fsck.vfat mdir mattrib mmd; do
    command -v "$tool" >/dev/null || { echo "skipped: $tool missing"; exit 77; }
done
# ASan cannot place its shadow memory in UML's address space layout.
if ldd "$FS" | grep -q 'libasan\|libubsan'; then
    echo "skipped: sanitizer builds do not run inside user-mode Linux"; exit 77
fi
T=$(mktemp -d /tmp/pershome-uml.XXXXXX)
trap 'rm -rf "$T"' EXIT
truncate -s 64M "$T/stick.img"
mkfs.vfat -F 32 -n STICK "$T/stick.img" >/dev/null
mmd -i "$T/stick.img" ::/pershome

# The script UML runs as PID 1. Every check appends "ok NAME" or
# "FAIL NAME"; the host reads the file afterwards (UML's exit status says
# nothing).
cat > "$T/init.sh" <<INIT
#!/bin/bash
R=$T/result
exec >$T/inner.log 2>&1
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t tmpfs tmpfs /run
K=/usr/lib/uml/modules/\$(uname -r)/kernel
for m in fs/nls/nls_cp437 fs/nls/nls_iso8859-1 fs/nls/nls_utf8 fs/fat/fat fs/fat/vfat fs/fuse/fuse; do
    insmod \$K/\$m.ko
done
S=$T/stick M=$T/mnt
mkdir -p \$S \$M
check() { local name=\$1; shift; if "\$@"; then echo "ok \$name" >>\$R; else echo "FAIL \$name" >>\$R; fi; }
up() {
    $FS -f -o flush=1 "\$@" \$S/pershome \$M 2>>$T/fs.log &
    PID=\$!
    for i in \$(seq 200); do grep -q " \$M " /proc/self/mountinfo && return 0; sleep 0.05; done
    echo "FAIL mount" >>\$R
    poweroff -f
}
down() { umount \$M; wait \$PID; }
mount -t vfat -o utf8 /dev/ubdb \$S || { echo "FAIL vfat" >>\$R; poweroff -f; }
up
cd \$M
# Case-only differences: FAT folds case, the backing reports the collision.
printf upper > Makefile; printf lower > makefile
check case-distinct test "\$(cat Makefile)/\$(cat makefile)" = upper/lower
mkdir Dir dir
check case-dirs test -d Dir -a -d dir
printf 1 > 'a:b'; printf 2 > 'what?'; printf 3 > 'x.'; printf 4 > 'x '; printf 5 > CON
printf 6 > aux.txt; printf 7 > '%41'; printf 8 > "\$(printf 'bad\\377')"; printf 9 > "\$(printf 'caf\\303\\251')"
L=\$(printf '%0255d' 0); printf long > \$L
check odd-names test "\$(cat 'a:b' 'what?' 'x.' 'x ' CON aux.txt '%41')" = 1234567
check long-name test "\$(cat \$L)" = long
ln -s '../target ?' link; ln Makefile hard; mkfifo fifo
chmod 600 makefile; touch -d '2001-02-03 04:05:06.123456789' aux.txt
check symlink test "\$(readlink link)" = '../target ?'
check hardlink test "\$(stat -c %h Makefile)" = 2
big=\$(( (1 << 32) - 1 ))
check efbig sh -c "! dd if=/dev/zero of=big bs=1 count=1 seek=\$big conv=notrunc 2>/dev/null"
rm -f big
mv 'what?' 'why?'; mv Dir 'Dir:renamed'
cd /
down
up
cd \$M
check remount-case test "\$(cat Makefile)/\$(cat makefile)" = upper/lower
check remount-mode test "\$(stat -c %a makefile)" = 600
check remount-ns-time test "\$(stat -c %y aux.txt)" = "2001-02-03 04:05:06.123456789 +0000"
check remount-symlink test "\$(readlink link)" = '../target ?'
check remount-hardlink test "\$(stat -c %h hard)" = 2
check remount-fifo test -p fifo
check remount-rename test -e 'why?' -a ! -e 'what?' -a -d 'Dir:renamed'
# The storm: 10,000 attribute changes on 100 files, in one process (fork
# costs 7 ms in UML), index written a handful of times.
cd /; down; : > $T/fs.log; up
storm=\$($WL storm \$M)
cd /
down
writes=\$(sed -n 's/.*pershome-fs: \([0-9]*\) index writes.*/\1/p' $T/fs.log)
echo "storm \$storm s, \$writes index writes (flush=1)" >>\$R
check storm-writes test "\$writes" -le \$(( \${storm%.*} + 1 + 2 ))
umount \$S
echo done >>\$R
poweroff -f
INIT
chmod +x "$T/init.sh"
timeout 300 linux.uml mem=512M "ubdb=$T/stick.img" root=/dev/root rootfstype=hostfs rootflags=/ rw \
    "init=$T/init.sh" con=null con0=fd:0,fd:1 </dev/null >"$T/console.log" 2>&1 || true
status=0
if ! grep -q '^done$' "$T/result" 2>/dev/null; then
    echo "UML run did not finish"; cat "$T/console.log" "$T/inner.log" 2>/dev/null | tail -30; status=1
fi
cat "$T/result" 2>/dev/null || true
grep -q FAIL "$T/result" 2>/dev/null && { cat "$T/fs.log" "$T/inner.log" | tail -30; status=1; }
# The host's view of the stick.
if fsck.vfat -n "$T/stick.img" >"$T/fsck.log" 2>&1; then echo "ok fsck.vfat"; else
    echo "FAIL fsck.vfat"; cat "$T/fsck.log"; status=1; fi
listing=$(mdir -i "$T/stick.img" -a -b ::/pershome)
# (Makefile went into PERSHOME.LNK when it got a hard link; makefile
# collided with it on FAT and got a generated name.)
for n in '%41' "$(printf 'caf\303\251')" link fifo; do
    if grep -qxF "::/pershome/$n" <<<"$listing"; then echo "ok mdir shows $n"; else echo "FAIL mdir $n"; echo "$listing"; status=1; fi
done
if grep -q 'what?' <<<"$listing"; then echo "FAIL mdir shows what?"; status=1; fi
if grep -q '^::/pershome/makefile~[0-9a-f]\{8\}$' <<<"$listing"; then echo "ok case collision got a generated name"; else
    echo "FAIL no generated name for makefile"; status=1; fi
if mattrib -i "$T/stick.img" ::/pershome/PERSHOME.IDX | grep -q '^ *A* *H'; then echo "ok index hidden"; else
    mattrib -i "$T/stick.img" ::/pershome/PERSHOME.IDX; echo "FAIL index not hidden"; status=1; fi
# A second FAT implementation (fusefat, read-only; bounded: it has been seen
# spinning) lists the same backing names as mtools.
if command -v fusefat >/dev/null && command -v unshare >/dev/null; then
    mkdir -p "$T/ff"
    timeout 30 unshare -m --propagation private sh -c \
        "fusefat -o ro '$T/stick.img' '$T/ff' >/dev/null 2>&1 &&
         for i in \$(seq 100); do grep -q ' $T/ff ' /proc/self/mountinfo && break; sleep 0.05; done;
         ls -A '$T/ff/pershome' > '$T/ff.list'; fusermount3 -u '$T/ff'" || true
    sed -e 's|^::/pershome/||' -e 's|/$||' <<<"$listing" | sort >"$T/mtools.list"
    if [ -s "$T/ff.list" ] && diff <(sort "$T/ff.list") "$T/mtools.list" >/dev/null; then
        echo "ok fusefat shows the same files"
    else
        echo "FAIL fusefat listing differs"; diff <(sort "$T/ff.list" 2>/dev/null) "$T/mtools.list" | head; status=1
    fi
fi
exit $status
