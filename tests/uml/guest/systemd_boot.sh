# PID 1 of a UML guest that boots systemd (tests/uml/systemd_guest.hpp),
# after two lines that set SHARED and MODULES as for boot.sh. The guest's root
# becomes an overlay: the host's / (hostfs, made read-only first) below, a
# tmpfs above, so nothing systemd or its services write reaches the host;
# only $SHARED is bound through, read-write. Into the overlay go the files the
# host test put under $SHARED/sysroot (units, PAM, D-Bus policy, udev rule)
# and the test users; then systemd becomes PID 1 with $SHARED/sysroot's unit
# directory as its whole unit path, and the runner service there runs
# $SHARED/uml/script.sh as boot.sh would.

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
U="$SHARED/uml"
# Any step failing before systemd runs: say so and power off; the host then
# sees no status file and reports stderr.
die() {
    echo "systemd_boot: $*" >> "$U/stderr"
    sync
    poweroff -f
    exit 1
}
mount -t proc proc /proc; mount -t sysfs sys /sys
mount -t tmpfs -o mode=0755 tmpfs /run || die "no tmpfs on /run"
cat /proc/uptime > "$U/init-started"
mkdir -p /run/.modroot/lib/modules &&
    ln -s "/usr/lib/uml/modules/$(uname -r)" "/run/.modroot/lib/modules/$(uname -r)"
for m in overlay nls_cp437 nls_iso8859-1 nls_utf8 vfat fuse $MODULES; do
    modprobe -d /run/.modroot "$m" || echo "systemd_boot: cannot load module $m" >> "$U/stderr"
done

cat /proc/uptime > "$U/modules-loaded"
# The shared dir keeps its own read-write mount; everything else of the host
# is read-only from here on.
mount --bind "$SHARED" "$SHARED" || die "cannot bind $SHARED"
mount -o remount,bind,ro / || die "cannot make the host's / read-only"
awk '$2 == "/" { ro = ($4 ~ /^ro(,|$)/) } END { exit !ro }' /proc/self/mounts ||
    die "the host's / is still writable"

mkdir -p /run/ov/upper /run/ov/work /run/ov/root
R=/run/ov/root
mount -t overlay -o lowerdir=/,upperdir=/run/ov/upper,workdir=/run/ov/work overlay "$R" ||
    die "cannot mount the overlay root"
cp -a "$SHARED/sysroot/." "$R/" || die "cannot copy the sysroot"
# The test users join the host's (dbus-daemon runs as messagebus).
for f in passwd group; do
    awk -F: 'NR == FNR { have[$1] = 1; next } !($1 in have)' "$R/etc/$f" "$SHARED/$f" > /run/ov/$f &&
        cat /run/ov/$f >> "$R/etc/$f" || die "cannot add the test users to $f"
done
# A machine id of its own: the host's may be missing or empty.
head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$R/etc/machine-id"
echo >> "$R/etc/machine-id"
mount --bind "$SHARED" "$R$SHARED" || die "cannot bind $SHARED into the new root"
cat /proc/uptime > "$U/switched"

cd "$R" || die "no new root"
mount --move . / || die "cannot move the new root to /"
# No generators: the host's fstab, getty and the like are not this guest's.
mkdir -p etc/pershome-test/generators
exec chroot . /usr/bin/env -i PATH="$PATH" \
    SYSTEMD_UNIT_PATH=/etc/pershome-test/units \
    SYSTEMD_GENERATOR_PATH=/etc/pershome-test/generators \
    SYSTEMD_ENVIRONMENT_GENERATOR_PATH=/etc/pershome-test/generators \
    /lib/systemd/systemd --show-status=yes --log-level=info --log-target=kmsg
