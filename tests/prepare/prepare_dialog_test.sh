#!/usr/bin/env bash
# pershome-prepare, the patron's zenity dialog, driven for real under Xvfb
# with xdotool, with a screenshot of every step in the test's dir (kept on
# failure): "nothing plugged", then a FAT stick prepared, then the same
# stick found already prepared.
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
    exec env PERSHOME_PREPARE_TEST_NS=1 unshare -m --propagation private "$0" "$@"
fi

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
    fusermount -u /media/patron/STICK 2>/dev/null || true
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

# Xvfb picks a free display itself and tells us which.
Xvfb -displayfd 3 -screen 0 800x600x24 -nolisten tcp 3>"$work/display" 2>"$work/xvfb.log" &
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

# 2. A FAT stick, as the desktop mounts it under /media/USER/LABEL.
truncate -s 16M "$work/stick.img"
mkfs.vfat -n STICK "$work/stick.img" >/dev/null
mkdir -p /media/patron/STICK
fusefat -f -o rw+ "$work/stick.img" /media/patron/STICK >"$work/fusefat.log" 2>&1 &
fusefat_pid=$!
pids+=("$fusefat_pid")
for _ in $(seq 100); do mountpoint -q /media/patron/STICK && break; sleep 0.05; done
mountpoint -q /media/patron/STICK || fail "fusefat did not mount the stick"

start_dialog choose
wait_window "Prepare a stick for pershome" >/dev/null
shot 02-choose-stick
# The first stick is chosen already; the keyboard's way to OK: past Cancel.
press "Prepare a stick for pershome" Tab Tab Return
wait_window "Stick prepared" >/dev/null
shot 03-prepared
press "Stick prepared" Return
dialog_status
[ $status = 0 ] || fail "prepare: want exit 0, got $status: $(cat "$work/dialog-choose.log")"
[ -d /media/patron/STICK/pershome ] || fail "no folder pershome on the stick"

# 3. The same stick again: already prepared, nothing changed.
start_dialog again
wait_window "Prepare a stick for pershome" >/dev/null
press "Prepare a stick for pershome" Tab Tab Return
wait_window "Stick already prepared" >/dev/null
shot 04-already-prepared
press "Stick already prepared" Return
dialog_status
[ $status = 0 ] || fail "already prepared: want exit 0, got $status"

# On the stick itself once fusefat has written it out (fusermount -u does
# not wait for that). fusefat leaves FAT entry 1 as mtools does not expect.
fusermount -u /media/patron/STICK
for _ in $(seq 200); do kill -0 "$fusefat_pid" 2>/dev/null || break; sleep 0.05; done
MTOOLS_SKIP_CHECK=1 mdir -b -i "$work/stick.img" ::/ | grep -qx '::/pershome/' ||
    fail "the image has no pershome folder"
ok=1
echo "prepare dialog: no stick, prepared, already prepared: OK"
