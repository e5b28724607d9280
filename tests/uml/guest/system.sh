# Guest shell functions for the whole pershome system in UML (see
# tests/uml/pershome_system_guest.hpp): they read the files
# write_system_files puts in $SHARED, and $PERSHOMED_BIN, $PAM_LOGIN_BIN.
# Embedded in the harness at build time; scripts/demo uses it too.

export DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/bus/socket
export TZ=UTC
_name_owned() {
    busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
        NameHasOwner s org.pershome1 2>/dev/null | grep -q 'b true'
}
system_up() {
    mount --bind "$SHARED/passwd" /etc/passwd &&
    mount --bind "$SHARED/group" /etc/group &&
    mount --bind "$SHARED/pam.d" /etc/pam.d || return 1
    mkdir -p /run/tmphome /run/staffhome/staff /run/udev/rules.d /run/bus
    chown 20003:20003 /run/staffhome/staff
    cp "$SHARED/90-pershome-test.rules" /run/udev/rules.d/
    start_udev || return 1
    dbus-daemon --config-file="$SHARED/bus.conf" --fork --print-pid > /run/bus/pid || return 1
    daemon_start
}
daemon_start() {
    "$PERSHOMED_BIN" --config "$SHARED/pershomed.json" >> "$SHARED/pershomed.log" 2>&1 &
    DAEMON_PID=$!
    wait_until 20 _name_owned
}
login_start() {
    rm -f "/run/login-$1.in" "$SHARED/login-$1.out"
    mkfifo "/run/login-$1.in"
    "$PAM_LOGIN_BIN" pershome "$2" < "/run/login-$1.in" > "$SHARED/login-$1.out" 2>&1 &
    eval "LOGIN_PID_$1=\$!"
}
login_wait_open() { wait_until 60 grep -q '^open ' "$SHARED/login-$1.out"; }
login_opened() { grep -q '^open 0 ' "$SHARED/login-$1.out"; }
_ran_count() { grep -c '^ran ' "$SHARED/login-$1.out"; }
_ran_more() { [ "$(_ran_count "$1")" -gt "$2" ]; }
login_run() {
    _lr_n=$(_ran_count "$1")
    printf 'run %s\n' "$3" >&"$2"
    wait_until 60 _ran_more "$1" "$_lr_n" || return 1
    tail -n 1 "$SHARED/login-$1.out" | grep -q '^ran 0$'
}
login_close() {
    echo close >&"$2"
    eval "exec $2>&-"
    eval "wait_pid \$LOGIN_PID_$1 60"
    grep -q '^close 0 ' "$SHARED/login-$1.out"
}
device_prop() {
    busctl --system get-property org.pershome1 "/org/pershome1/device/$1" \
        org.pershome1.Device "$2" 2>&1
}
session_prop() {
    busctl --system get-property org.pershome1 "/org/pershome1/session/$1" \
        org.pershome1.Session "$2" 2>&1
}
prop_is() { [ "$("$1" "$2" "$3")" = "$4" ]; }
# prop_has DEVICE PROPERTY REGEX: the device's property matches REGEX.
prop_has() { device_prop "$1" "$2" | grep -q "$3"; }
mounted_at() { awk -v p="$1" '$5 == p { t = $0 } END { if (t != "") { sub(/.* - /, "", t); split(t, a, " "); print a[1] } }' /proc/self/mountinfo; }
