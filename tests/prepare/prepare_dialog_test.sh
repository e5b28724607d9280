#!/usr/bin/env bash
# pershome-prepare, the patron's zenity dialog, driven for real under Xvfb
# with xdotool, with a screenshot of every step in the test's dir (kept on
# failure): "nothing plugged", a FAT stick prepared, the same stick found
# already prepared, then a read-only FAT stick, a full one and one that is
# not FAT, each refused with its own message.
#
# Real: zenity, the X server (Xvfb), the dialog script, pershomectl, the FAT
# filesystem (a vfat image made by mkfs.vfat) and FUSE. Stand-ins: fusefat
# mounts the image where a desktop's udisks would mount a stick with the
# kernel's vfat (this host's kernel has no vfat), on a private tmpfs over
# /media; pershomed is not running (its bus address points nowhere), so
# pershomectl falls back to the mounts below /media, as on a machine
# without the daemon. The dialog runs as root here; a patron runs it as
# themselves on a stick the desktop mounted for them.
#
# usage: [PERSHOME_KEEP_TEST_DIR=1] prepare_dialog_test.sh PERSHOMECTL PERSHOME_PREPARE
set -euo pipefail

# Everything below mounts (tmpfs on /tmp and /media, the stick): in a
# private mount namespace, so nothing reaches the machine.
if [ -z "${PERSHOME_PREPARE_TEST_NS:-}" ]; then
    exec env PERSHOME_PREPARE_TEST_NS=1 unshare -m --propagation unchanged "$0" "$@"
fi
# In a chroot (a fresh-machine check) / is no mount point and cannot be made
# private; the chroot's maker decides its propagation, as in
# tests/support/mount_namespace.cpp.
mount --make-rprivate / 2>/dev/null || mount --make-rprivate /proc 2>/dev/null || true

ctl=$(readlink -f "$1")
dialog=$(readlink -f "$2")
for tool in Xvfb xdotool zenity xwd xwdtopnm pnmtopng fusefat mkfs.vfat mdir; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done

work=$(mktemp -d /var/tmp/pershome-prepare-test.XXXXXX)
pids=()
ok=0
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for m in /media/patron/*; do fusermount -u "$m" 2>/dev/null || true; done
    if [ $ok = 1 ] && [ -z "${PERSHOME_KEEP_TEST_DIR:-}" ]; then
        rm -rf "$work"
    else
        echo "kept $work (screenshots, logs) for a look" >&2
    fi
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=0755 tmpfs /media

# Xvfb picks a free display itself and tells us which. Only its socket in
# our private /tmp: the abstract one (-nolisten local) is shared by every
# mount namespace, and a second test's Xvfb, also :0 there, answered ours.
# -noreset: an X server resets when its last client leaves, and a client
# connecting meanwhile is refused ("cannot open display"), as the dialog
# started right after the previous one's screenshot once was.
Xvfb -displayfd 3 -screen 0 800x600x24 -nolisten tcp -nolisten local -noreset \
    3>"$work/display" 2>"$work/xvfb.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/display" ] && break; sleep 0.1; done
[ -s "$work/display" ] || fail "Xvfb did not start: $(cat "$work/xvfb.log")"
DISPLAY=":$(cat "$work/display")"
export DISPLAY

mkdir -p "$work/home" "$work/run" "$work/bin"
chmod 700 "$work/run"
ln -s "$ctl" "$work/bin/pershomectl"
dialog_env=(env -i "DISPLAY=$DISPLAY" "HOME=$work/home" "XDG_RUNTIME_DIR=$work/run"
    "PATH=$work/bin:/usr/bin:/bin" LANG=C.UTF-8 NO_AT_BRIDGE=1 GSETTINGS_BACKEND=memory
    "DBUS_SESSION_BUS_ADDRESS=unix:path=$work/no-session-bus"
    "DBUS_SYSTEM_BUS_ADDRESS=unix:path=$work/no-system-bus")

shot() { xwd -root -silent | xwdtopnm 2>/dev/null | pnmtopng >"$work/$1.png"; }

start_dialog() {
    "${dialog_env[@]}" "$dialog" >"$work/dialog-$1.log" 2>&1 &
    dialog_pid=$!
    pids+=("$dialog_pid")
}

# Waits up to 20 s, while the dialog runs, for a visible window titled
# exactly TITLE; prints its id.
wait_window() {
    local id deadline=$((SECONDS + 20))
    while [ $SECONDS -lt $deadline ]; do
        id=$(xdotool search --onlyvisible --name "^$1\$" 2>/dev/null | head -n1) || true
        if [ -n "$id" ]; then echo "$id"; return; fi
        kill -0 "$dialog_pid" 2>/dev/null || fail "the dialog ended before showing '$1'"
        sleep 0.05
    done
    fail "no window '$1' within 20 s"
}

# Sends KEYS to the window titled TITLE until it is gone: a window mapped a
# moment ago may not take keys yet, so a press it ignored is sent again
# (at most 10 times, each given 2 s to take effect).
press() {  # TITLE KEY...
    local title=$1 w tries deadline
    shift
    for tries in $(seq 10); do
        w=$(xdotool search --onlyvisible --name "^$title\$" 2>/dev/null | head -n1) || true
        [ -n "$w" ] || return 0
        xdotool windowfocus --sync "$w" key "$@"
        deadline=$((SECONDS + 2))
        while [ $SECONDS -lt $deadline ]; do
            xdotool search --onlyvisible --name "^$title\$" >/dev/null 2>&1 || return 0
            sleep 0.05
        done
        echo "note: '$title' ignored keys $* (try $tries)" >&2
    done
    fail "'$title' does not take the keys $*"
}

# Sets status to the dialog's exit status, within 20 s.
dialog_status() {
    local deadline=$((SECONDS + 20))
    while kill -0 "$dialog_pid" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || fail "the dialog did not end"
        sleep 0.05
    done
    status=0
    wait "$dialog_pid" || status=$?
}

# 1. Nothing plugged in.
start_dialog none
wait_window "No stick found" >/dev/null
shot 01-no-stick
press "No stick found" Return
dialog_status
[ $status = 1 ] || fail "nothing plugged: want exit 1, got $status"

# A FAT stick LABEL of SIZE as the desktop mounts it, at /media/patron/LABEL,
# with fusefat OPTIONS (rw+ to write); its fusefat pid in fusefat_pid.
plug_fat() {  # LABEL SIZE OPTIONS
    truncate -s "$2" "$work/$1.img"
    mkfs.vfat -n "$1" "$work/$1.img" >/dev/null
    mkdir -p "/media/patron/$1"
    fusefat -f -o "$3" "$work/$1.img" "/media/patron/$1" >"$work/fusefat-$1.log" 2>&1 &
    fusefat_pid=$!
    pids+=("$fusefat_pid")
    for _ in $(seq 100); do mountpoint -q "/media/patron/$1" && break; sleep 0.05; done
    mountpoint -q "/media/patron/$1" || fail "fusefat did not mount $1"
}
# Unmounts and waits for fusefat to have written the image (fusermount -u
# does not wait for that).
unplug_fat() {  # LABEL
    fusermount -u "/media/patron/$1"
    for _ in $(seq 200); do kill -0 "$fusefat_pid" 2>/dev/null || break; sleep 0.05; done
    kill -0 "$fusefat_pid" 2>/dev/null && fail "fusefat did not end after unmounting $1"
    rmdir "/media/patron/$1"
}
# Runs the dialog with one stick plugged, takes OK, and expects a window
# TITLE and exit status STATUS.
choose_first() {  # NAME TITLE STATUS
    start_dialog "$1"
    wait_window "Prepare a stick for pershome" >/dev/null
    # The first stick is chosen already; the keyboard's way to OK: past Cancel.
    press "Prepare a stick for pershome" Tab Tab Return
    wait_window "$2" >/dev/null
    shot "$1"
    press "$2" Return
    dialog_status
    [ "$status" = "$3" ] || fail "$1: want exit $3, got $status: $(cat "$work/dialog-$1.log")"
}

# 2. A FAT stick, prepared; then again: already prepared, nothing changed.
plug_fat STICK 16M rw+
start_dialog 02-choose-stick
wait_window "Prepare a stick for pershome" >/dev/null
shot 02-choose-stick
press "Prepare a stick for pershome" Tab Tab Return
wait_window "Stick prepared" >/dev/null
shot 03-prepared
press "Stick prepared" Return
dialog_status
[ $status = 0 ] || fail "prepare: want exit 0, got $status: $(cat "$work/dialog-02-choose-stick.log")"
[ -d /media/patron/STICK/pershome ] || fail "no folder pershome on the stick"
choose_first 04-already-prepared "Stick already prepared" 0
# On the stick itself. fusefat leaves FAT entry 1 as mtools does not expect.
unplug_fat STICK
MTOOLS_SKIP_CHECK=1 mdir -b -i "$work/STICK.img" ::/ | grep -qx '::/pershome/' ||
    fail "the image has no pershome folder"

# 3. What a patron may bring instead: a locked stick (mounted read-only), a
# full one (a 1 MiB FAT has less free than a home needs), and one that is
# not FAT (a tmpfs stands in for an NTFS or ext4 stick).
plug_fat LOCKED 8M ro
choose_first 05-read-only "Stick is read-only" 1
[ ! -e /media/patron/LOCKED/pershome ] || fail "a read-only stick was changed"
unplug_fat LOCKED
plug_fat TINY 1M rw+
choose_first 06-full "Stick is full" 1
[ ! -e /media/patron/TINY/pershome ] || fail "a full stick was changed"
unplug_fat TINY
mkdir -p /media/patron/OTHER
mount -t tmpfs -o size=4m tmpfs /media/patron/OTHER
choose_first 07-not-fat "Stick is not FAT" 1
[ ! -e /media/patron/OTHER/pershome ] || fail "a stick that is not FAT was changed"
umount /media/patron/OTHER
ok=1
echo "prepare dialog: no stick, prepared, already prepared, read-only, full, not FAT: OK"
