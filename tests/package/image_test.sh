#!/usr/bin/env bash
# Does what an LTSP admin does with the package, in a fresh Debian 12 chroot
# standing in for the LTSP image (`ltsp image` builds images from such a
# chroot), with ltsp, libpam-systemd (as any desktop image has) and man-db
# installed in it:
#   apt install ./pershome_*.deb
# then checks what the admin would: the files are in place; pam-auth-update
# put pam_pershome.so into common-session, before pam_systemd.so; the unit
# is enabled and `systemd-analyze verify` accepts it; dbus-daemon starts with
# the shipped policy; `pershomed --check-config` runs; every man page opens
# with `man`; nothing was started in the image; ltsp is still fine; and
#   apt purge pershome
# leaves nothing behind (no PAM line, no unit, no state dir, no file).
#
# Everything happens in a private mount namespace (scripts/private-ns), the
# chroot on a tmpfs mounted there: /proc, /sys and /dev are mounted for it
# there only, and it all vanishes with the namespace. The base image
# (debootstrap --variant=minbase bookworm, about 2 minutes, plus ltsp) is
# cached as a tarball in CACHE_DIR, keyed by its recipe.
# usage: image_test.sh DEB|DIR CACHE_DIR SOURCE_DIR   (DIR: where scripts/build-deb put it)
set -euo pipefail
fail() { echo "image_test: $*" >&2; exit 1; }
[ $# = 3 ] || fail "usage: image_test.sh DEB|DIR CACHE_DIR SOURCE_DIR"
deb=$(realpath "$1")
if [ -d "$deb" ]; then
    debs=("$deb"/pershome_[0-9]*.deb)
    [ ${#debs[@]} = 1 ] && [ -f "${debs[0]}" ] || fail "$deb: want one pershome_*.deb, found: ${debs[*]}"
    deb=${debs[0]}
fi
cache=$(realpath -m "$2")
src=$(realpath "$3")
[ -f "$deb" ] || fail "$deb: no such package (scripts/build-deb makes it)"
if [ "${PERSHOME_IMAGE_TEST_INNER:-}" != 1 ]; then
    PERSHOME_IMAGE_TEST_INNER=1 exec "$src/scripts/private-ns" "$0" "$@"
fi

# The image's recipe: a change here builds a new base tarball.
image_packages=(ltsp libpam-systemd man-db)
suite=bookworm
mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
mirror=${mirror:-http://deb.debian.org/debian}
key=$(printf '%s\n' "$suite" "$mirror" "${image_packages[@]}" | sha256sum | cut -c1-12)
tarball=$cache/image-$suite-$key.tar.zst

work=$(mktemp -d /tmp/pershome-image.XXXXXX)
root=$work/root
started=$(date +%s)
say() { echo "image_test [$(( $(date +%s) - started ))s]: $*"; }

# Processes whose root is the image: none may outlive a step (the package
# must start nothing in an image); any found are reported and ended by pid.
image_processes() {
    local p
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && echo "${p#/proc/}"
    done
    return 0
}
cleanup() {
    local pids
    pids=$(image_processes)
    [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
    umount -R "$work" 2>/dev/null || true
    rmdir "$work" 2>/dev/null || true
}
trap cleanup EXIT
mount -t tmpfs -o size=4G,mode=0755 pershome-image "$work"
mkdir "$root"

mount_image_fs() {
    mount -t proc proc "$root/proc"
    mount --rbind /sys "$root/sys"
    mount --rbind /dev "$root/dev"
}
umount_image_fs() { umount -R "$root/proc" "$root/sys" "$root/dev"; }
# A command in the image, with a clean environment as an admin's root shell.
in_image() {
    chroot "$root" /usr/bin/env -i HOME=/root LC_ALL=C.UTF-8 TERM=dumb \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        DEBIAN_FRONTEND=noninteractive "$@"
}

ltsp_installed() { in_image dpkg-query -W -f='${Status}' ltsp | grep -qx 'install ok installed'; }

if [ -s "$tarball" ]; then
    say "base image from $tarball"
    tar -C "$root" --zstd -xpf "$tarball" --numeric-owner
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    mount_image_fs
else
    say "building the base image (debootstrap $suite from $mirror, once)"
    mkdir -p "$cache"
    debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
        { tail -20 "$work/debootstrap.log" >&2; fail "debootstrap failed"; }
    # The image's sources as the build machine's (with updates and security).
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/"
        rm -f "$root/etc/apt/sources.list"
    fi
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    mount_image_fs
    in_image apt-get update -qq || fail "apt-get update in the image failed"
    in_image apt-get install -y -qq --no-install-recommends "${image_packages[@]}" \
        >"$work/base-install.log" 2>&1 ||
        { tail -20 "$work/base-install.log" >&2; fail "installing ${image_packages[*]} in the image failed"; }
    umount_image_fs
    tar -C "$root" --zstd -cpf "$tarball.tmp" --numeric-owner . && mv "$tarball.tmp" "$tarball"
    mount_image_fs
    say "base image cached as $tarball"
fi
[ -z "$(image_processes)" ] || fail "processes left in the image by building it: $(image_processes)"

# What the image holds before, to compare after the purge. Logs, caches and
# package databases change with any install, and systemd-analyze (run here,
# not by the package) leaves a stamp in /run/systemd; everything else must
# come back.
snapshot() {
    (cd "$root" && find . -xdev \
        \( -path ./proc -o -path ./sys -o -path ./dev -o -path ./tmp \
           -o -path ./var/log -o -path ./var/cache -o -path ./var/lib/apt \
           -o -path ./var/lib/dpkg -o -path ./run/systemd \) -prune -o -print) | sort
}
snapshot >"$work/before"

say "apt install ./$(basename "$deb")"
cp "$deb" "$root/tmp/"
in_image apt-get install -y --no-install-recommends "/tmp/$(basename "$deb")" >"$work/install.log" 2>&1 ||
    { tail -30 "$work/install.log" >&2; fail "apt install of the package failed"; }
! grep -E '^(E:|W:|dpkg: (error|warning))' "$work/install.log" ||
    fail "apt or dpkg complained while installing (above)"
in_image dpkg --audit | grep . && fail "dpkg --audit reports half-installed packages"
ltsp_installed || fail "ltsp is no longer installed"

say "files in place"
for f in /usr/sbin/pershomed /usr/bin/pershome-fs /usr/bin/pershomectl /usr/bin/pershome-prepare; do
    [ -x "$root$f" ] || fail "$f missing or not executable"
done
compgen -G "$root/lib/*/security/pam_pershome.so" >/dev/null ||
    fail "/lib/<multiarch>/security/pam_pershome.so missing"
for f in /lib/systemd/system/pershomed.service \
         /usr/share/dbus-1/system.d/org.pershome1.conf \
         /usr/share/dbus-1/system-services/org.pershome1.service \
         /usr/lib/tmpfiles.d/pershome.conf /usr/share/pam-configs/pershome \
         /usr/share/doc/pershome/copyright /usr/share/doc/pershome/examples/persistent_homes.example; do
    [ -f "$root$f" ] || fail "$f missing"
done
[ -d "$root/run/pershome/sessions" ] && [ -d "$root/tmphome" ] ||
    fail "tmpfiles.d did not make /run/pershome/sessions and /tmphome"
in_image dpkg -L pershome >"$work/files"

say "PAM: pam-auth-update put the line in common-session, before pam_systemd"
session=$root/etc/pam.d/common-session
ours=$(grep -nE '^session\s.*pam_pershome\.so' "$session" | cut -d: -f1 | head -1)
systemd_line=$(grep -nE '^session\s.*pam_systemd\.so' "$session" | cut -d: -f1 | head -1)
[ -n "$ours" ] || fail "no pam_pershome.so line in /etc/pam.d/common-session: $(cat "$session")"
[ -n "$systemd_line" ] || fail "no pam_systemd.so line in common-session: is libpam-systemd in the image?"
[ "$ours" -lt "$systemd_line" ] ||
    fail "pam_pershome.so (line $ours) after pam_systemd.so (line $systemd_line) in common-session"
! grep -q pam_pershome.so "$root/etc/pam.d/common-session-noninteractive" ||
    fail "pam_pershome.so in common-session-noninteractive"

say "systemd: unit enabled, systemd-analyze verify accepts it"
[ "$(in_image systemctl is-enabled pershomed.service 2>&1)" = enabled ] ||
    fail "pershomed.service not enabled: $(in_image systemctl is-enabled pershomed.service 2>&1)"
in_image systemd-analyze verify /lib/systemd/system/pershomed.service >"$work/verify.log" 2>&1 ||
    { cat "$work/verify.log" >&2; fail "systemd-analyze verify rejects pershomed.service"; }
grep -i pershome "$work/verify.log" && fail "systemd-analyze verify complains about our unit (above)"

say "D-Bus: dbus-daemon starts with the shipped policy"
cat >"$root/tmp/bus.conf" <<'EOF'
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/tmp/bus.socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_destination="org.freedesktop.DBus"/>
  </policy>
  <include>/usr/share/dbus-1/system.d/org.pershome1.conf</include>
</busconfig>
EOF
out=$(in_image dbus-daemon --config-file=/tmp/bus.conf --fork --print-address=1 --print-pid=1 2>"$work/dbus.err") ||
    { cat "$work/dbus.err" >&2; fail "dbus-daemon refuses a config that includes org.pershome1.conf"; }
bus_pid=$(sed -n 2p <<<"$out")
[[ $bus_pid =~ ^[0-9]+$ ]] || fail "dbus-daemon printed no pid: $out"
kill "$bus_pid"
timeout 10 tail --pid="$bus_pid" -f /dev/null || fail "dbus-daemon (pid $bus_pid) did not exit on SIGTERM"
[ ! -s "$work/dbus.err" ] || { cat "$work/dbus.err" >&2; fail "dbus-daemon warned about the policy (above)"; }

say "pershomed --check-config"
in_image pershomed --check-config >"$work/config.json" 2>&1 ||
    { cat "$work/config.json" >&2; fail "pershomed --check-config failed"; }
grep -q '"state_dir"' "$work/config.json" || fail "pershomed --check-config printed no configuration"
say "pershomectl --help"
in_image pershomectl --help >/dev/null || fail "pershomectl --help failed in the image"
in_image pershomed --config /usr/share/doc/pershome/examples/pershomed.json --check-config >/dev/null ||
    fail "pershomed rejects its own example configuration"

say "man pages open with man"
pages=$(grep -E '^/usr/share/man/man[0-9]/' "$work/files" | sed -E 's|.*/||; s|\.gz$||')
[ "$(wc -w <<<"$pages")" -ge 5 ] || fail "fewer than 5 man pages in the package: $pages"
for p in $pages; do
    name=${p%.*} section=${p##*.}
    text=$(in_image env MANWIDTH=80 man -P cat "$section" "$name" 2>"$work/man.err") ||
        fail "man $section $name: $(cat "$work/man.err")"
    grep -q '^NAME' <<<"$text" || fail "man $section $name has no NAME section"
done
[ -z "$(image_processes)" ] || fail "the package left processes running in the image: $(image_processes)"

say "apt purge pershome"
in_image apt-get purge -y pershome >"$work/purge.log" 2>&1 ||
    { tail -30 "$work/purge.log" >&2; fail "apt purge failed"; }
in_image apt-get autoremove --purge -y >>"$work/purge.log" 2>&1 || fail "apt autoremove failed"
ltsp_installed || fail "purge took ltsp away"
! grep -rl pam_pershome "$root/etc/pam.d" || fail "a PAM line is left after the purge (above)"
! grep -qx pershome "$root/var/lib/pam/seen" || fail "pam-auth-update still lists pershome"
[ ! -e "$root/run/pershome" ] || fail "/run/pershome left after the purge"
[ ! -e "$root/tmphome" ] || fail "/tmphome left after the purge"
left=$(find "$root/etc/systemd" -name '*pershome*' -o -name 'dbus-org.pershome1*')
[ -z "$left" ] || fail "systemd links left after the purge: $left"
# Dependencies apt keeps (another package suggests them) stay, with their
# files: only paths no installed package owns count as left behind.
snapshot >"$work/after"
# dpkg lists /sbin/x where merged /usr holds usr/sbin/x.
cat "$root"/var/lib/dpkg/info/*.list | sed -E 's|^/(bin\|sbin\|lib[^/]*)/|/usr/\1/|; s|^|.|' |
    sort -u >"$work/owned"
comm -13 "$work/before" "$work/after" | comm -23 - "$work/owned" >"$work/left"
comm -23 "$work/before" "$work/after" >"$work/gone"
[ ! -s "$work/left" ] || fail "left behind after the purge: $(cat "$work/left")"
[ ! -s "$work/gone" ] || fail "gone after install and purge: $(cat "$work/gone")"
say "install, checks and purge OK"
