# PID 1 of a UML guest, after two lines that set SHARED (the host directory
# the guest shares, seen at the same path) and MODULES (kernel modules to load
# besides FAT, NLS and FUSE). Runs $SHARED/uml/script.sh with
# $SHARED/uml/functions.sh sourced first, its stdout to $SHARED/uml/stdout,
# its stderr to $SHARED/uml/stderr, its exit status to $SHARED/uml/status
# (UML's own says nothing), then powers off. Embedded in the harness
# (tests/uml/uml_machine.cpp) at build time; scripts/demo boots with it too.

# The kernel hands PID 1 no PATH, and then every exec'ing tool (timeout,
# xargs, env) falls back to /bin:/usr/bin and misses sbin.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
U="$SHARED/uml"; export SHARED
mount -t proc proc /proc; mount -t sysfs sys /sys
mount -t tmpfs -o mode=0755 tmpfs /run
# hostfs writes land on the host: give the guest a private /tmp (and HOME),
# keeping only the shared dir at its host path.
mkdir /run/.shared && mount --bind "$SHARED" /run/.shared
mount -t tmpfs -o mode=1777 tmpfs /tmp
mkdir -p "$SHARED" && mount --move /run/.shared "$SHARED"
mkdir -p /run/root && export HOME=/run/root TMPDIR=/tmp LC_ALL=C.UTF-8
: > "$U/booted"
# modprobe wants DIR/lib/modules/VERSION; the host has no /lib/modules and we
# may not make one, so point at UML's tree.
mkdir -p /run/.modroot/lib/modules &&
    ln -s "/usr/lib/uml/modules/$(uname -r)" "/run/.modroot/lib/modules/$(uname -r)"
for m in nls_cp437 nls_iso8859-1 nls_utf8 vfat fuse $MODULES; do
    modprobe -d /run/.modroot "$m" || echo "prelude: cannot load module $m" >&2
done 2>> "$U/stderr"
(
    . "$U/functions.sh"
    cd /run
    . "$U/script.sh"
) < /dev/null > "$U/stdout" 2>> "$U/stderr"
echo $? > "$U/status.tmp" && mv "$U/status.tmp" "$U/status"
# Bounded: a sync stuck on a dead device must not hold the poweroff.
sync & s=$!; n=50
while kill -0 $s 2>/dev/null && [ $n -gt 0 ]; do sleep 0.1; n=$((n-1)); done
poweroff -f
