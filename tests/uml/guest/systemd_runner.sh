# The test runner of a systemd guest (systemd_boot.sh): the oneshot service
# pershome-test-runner.service runs it once the target's units are up. Like
# boot.sh's tail: $SHARED/uml/script.sh with functions.sh sourced first, its
# output and exit status in $SHARED/uml, the journal and pershomed's log into
# $SHARED for the host, then an immediate poweroff. SHARED is set by the
# unit's Environment=.
U="$SHARED/uml"
export TMPDIR=/tmp LC_ALL=C.UTF-8 HOME=/root
: > "$U/booted"
(
    . "$U/functions.sh"
    cd /run
    . "$U/script.sh"
) < /dev/null > "$U/stdout" 2>> "$U/stderr"
echo $? > "$U/status.tmp"
journalctl -b -o short-monotonic --no-pager > "$SHARED/journal.log" 2>&1
journalctl -b -o short-monotonic --no-pager -u pershomed.service > "$SHARED/pershomed.log" 2>&1
mv "$U/status.tmp" "$U/status"
sync
# A script that left $U/poweroff-orderly wants the real shutdown: every unit
# stopped in order, every mount undone. Otherwise --force twice: reboot(2)
# at once (the overlay's writes are thrown away with the machine).
if [ -e "$U/poweroff-orderly" ]; then
    systemctl poweroff
else
    systemctl poweroff --force --force
fi
