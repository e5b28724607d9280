#!/usr/bin/env bash
# Runs Debian's own pam-auth-update, as the package's maintainer scripts do,
# on an alternate root (--root) holding our profile beside the profiles of
# libpam-runtime (unix, mkhomedir) and libpam-systemd (systemd) from this
# machine, and checks the common-session it writes:
#   - installing (--package) enables ours (Default: yes);
#   - pam_pershome.so comes after pam_unix.so and before pam_systemd.so, so
#     systemd --user starts in the prepared home, not in the bare mount point;
#   - with pam_mkhomedir enabled too, pam_pershome.so comes before it, so
#     mkhomedir finds the home made and leaves it alone;
#   - not in common-session-noninteractive (Session-Interactive-Only);
#   - removing (--package --remove pershome) takes our line out and only it.
# pam-auth-update keeps its choices in debconf's database: this script runs
# itself again in a private mount namespace (scripts/private-ns) with a copy
# of /var/cache/debconf mounted over the real one, so the machine's database
# is never written.
# usage: check_pam_order.sh SOURCE_DIR
set -euo pipefail
src=${1:?usage: check_pam_order.sh SOURCE_DIR}
profile=$src/systemd/pam-configs-pershome
fail() { echo "check_pam_order: $*" >&2; exit 1; }

if [ "${PERSHOME_PAM_ORDER_INNER:-}" != 1 ]; then
    for f in unix mkhomedir systemd; do
        [ -r /usr/share/pam-configs/$f ] ||
            fail "/usr/share/pam-configs/$f missing (packages libpam-runtime, libpam-systemd)"
    done
    [ -r "$profile" ] || fail "$profile missing"
    PERSHOME_PAM_ORDER_INNER=1 exec "$src/scripts/private-ns" "$0" "$@"
fi

tmp=$(mktemp -d /tmp/pershome-pam-order.XXXXXX)
trap 'umount /var/cache/debconf 2>/dev/null || true; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/debconf"
cp -a /var/cache/debconf/. "$tmp/debconf/"
mount --bind "$tmp/debconf" /var/cache/debconf

root=$tmp/root
mkdir -p "$root/etc/pam.d" "$root/var/lib/pam" "$root/usr/share/pam-configs"
cp /usr/share/pam-configs/{unix,mkhomedir,systemd} "$root/usr/share/pam-configs/"
cp "$profile" "$root/usr/share/pam-configs/pershome"
session=$root/etc/pam.d/common-session

export DEBIAN_FRONTEND=noninteractive
pam_auth_update() {
    pam-auth-update --root "$root" "$@" || fail "pam-auth-update $* failed"
}
# Line number of the first session line that calls MODULE, or 0.
line_of() { grep -nE "^session\s.*\s$1(\s|$)" "$2" | head -1 | cut -d: -f1 || true; }
before() { # MODULE_A MODULE_B FILE: A is there and comes before B
    local a b
    a=$(line_of "$1" "$3"); b=$(line_of "$2" "$3")
    [ -n "$a" ] || fail "$1 not in $3:"$'\n'"$(cat "$3")"
    [ -n "$b" ] || fail "$2 not in $3:"$'\n'"$(cat "$3")"
    [ "$a" -lt "$b" ] || fail "$1 (line $a) is not before $2 (line $b) in $3:"$'\n'"$(cat "$3")"
}

# A fresh root has no common-* yet: --force writes them (as libpam-runtime's
# own postinst does on a new system); from then on pam-auth-update manages them.
pam_auth_update --package --force
before pam_unix.so pam_pershome.so "$session"
before pam_pershome.so pam_systemd.so "$session"
! grep -q pam_pershome.so "$root/etc/pam.d/common-session-noninteractive" ||
    fail "pam_pershome.so is in common-session-noninteractive (systemd --user's stack)"

pam_auth_update --enable mkhomedir
before pam_pershome.so pam_mkhomedir.so "$session"
before pam_pershome.so pam_systemd.so "$session"

pam_auth_update --package --remove pershome
! grep -q pam_pershome.so "$session" || fail "pam_pershome.so still in $session after --remove"
line_of pam_systemd.so "$session" | grep -q . || fail "pam_systemd.so lost from $session"
line_of pam_mkhomedir.so "$session" | grep -q . || fail "pam_mkhomedir.so lost from $session"
echo "check_pam_order: pam_unix < pam_pershome < pam_mkhomedir, pam_systemd; removal clean"
