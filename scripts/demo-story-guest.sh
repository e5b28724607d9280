# The terminals' side of scripts/demo's story, run inside user-mode Linux
# (scripts/demo-story.sh boots it with tests/uml/guest/boot.sh, after the
# shell functions of tests/uml/guest/functions.sh and system.sh). Two scenes,
# one a terminal: lab and library. What they print is the transcript; a step
# that does not happen as told ends the scene with status 1.

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
note() { printf '   %s\n' "$*"; }
# expect WHAT CMD [ARG...]: the story goes on only if CMD succeeds.
expect() {
    _what=$1; shift
    if "$@" > /run/.expect-out 2>&1; then
        note "ok: $_what"
    else
        note "!! not so: $_what"
        sed 's/^/      /' /run/.expect-out
        exit 1
    fi
}
# log_in USER FD: USER logs in (Linux-PAM, pam_pershome.so); shows what the
# login told him. Then `type_in USER FD CMD` and `log_out USER FD`.
log_in() {
    login_start "$1" "$1"
    eval "exec $2>/run/login-$1.in"
    expect "the login went through PAM" login_wait_open "$1"
    sed -n 's/^info: /   PAM told him: /p; s/^error: /   PAM told him (error): /p' "$SHARED/login-$1.out"
    expect "the session is open" login_opened "$1"
}
# type_in USER FD CMD: runs CMD in USER's session, in his home; shows both.
# The story goes on only if CMD succeeds.
type_in() {
    _n=$(wc -l < "$SHARED/login-$1.out")
    printf '   %s@%s:~$ %s\n' "$1" "$(hostname)" "$3"
    login_run "$1" "$2" "$3"
    _st=$?
    tail -n +"$((_n + 1))" "$SHARED/login-$1.out" | sed -n 's/^out: /     /p'
    [ "$_st" -eq 0 ] || { note "!! that failed"; exit 1; }
}
log_out() {
    expect "$1 logged out (the session closed)" login_close "$1" "$2"
}
show() { printf '   # %s\n' "$*"; "$@" 2>&1 | sed 's/^/     /'; }
# props OBJECT INTERFACE PROPERTY...: their values, one a line, named.
props() {
    _o=$1 _i=$2; shift 2
    printf '   # busctl --system get-property org.pershome1 %s %s %s\n' "$_o" "$_i" "$*"
    busctl --system get-property org.pershome1 "$_o" "$_i" "$@" 2>&1 |
        awk -v names="$*" 'BEGIN { split(names, n, " ") } { printf "     %-10s %s\n", n[NR], $0 }'
}
device() {
    props /org/pershome1/device/ubdb org.pershome1.Device \
        DeviceNode Label FsType HasHome State User MountPoint
}
boot_terminal() {
    hostname "$1"
    say "$1 boots (user-mode Linux: its own kernel, vfat, udev, FUSE; its own pershomed, config and state)"
    expect "udev, a private system bus and pershomed run" system_up
    note "pershomed.json: $(cat "$SHARED/pershomed.json")"
    note "persistent_homes: $(cat "$SHARED/persistent_homes")"
    signal_host ready
    expect "Joseph's stick is plugged in (hot-plugged from the host)" wait_for_host plugged 60
    note "host: $(cat "$SHARED/plugged")"
    expect "udev probed it; pershomed found pershome/ on it" \
        wait_until 30 prop_is device_prop ubdb HasHome "b true"
    show busctl --system tree org.pershome1
    device
}
safe_to_remove() {
    expect "the stick is safe to remove" wait_until 30 prop_is device_prop ubdb State 's "safe-to-remove"'
    expect "the home is unmounted and its mount point gone" test ! -e /run/tmphome/joseph
    device
}

report='Biofuel feedstock report (draft 1).odt'

lab() {
    boot_terminal lab-pc07

    say "Joseph logs in at lab-pc07 with his stick"
    log_in joseph 7
    expect "his home is the stick's pershome/ through pershome-fs" \
        expect_eq home "fuse.pershome-fs" "$(mounted_at /run/tmphome/joseph)"
    type_in joseph 7 'echo "I am $(id -un), my home is $HOME"; findmnt -n -o SOURCE,FSTYPE "$HOME"'
    type_in joseph 7 "printf 'Biofuel feedstock report\\ndraft 1: sources\\n' > '$report'"
    type_in joseph 7 "ln -s '$report' latest.odt && chmod 600 '$report' && ls -l"
    show busctl --system tree org.pershome1
    device

    say "Joseph logs out"
    log_out joseph 7
    safe_to_remove
}

library() {
    boot_terminal library-t3

    say "Joseph logs in at library-t3 with the same stick"
    log_in joseph 7
    expect "the login message says who used the stick last, and where" \
        grep -q '^info: Your home is on the stick JOSEPH .*last used by joseph on lab-pc07' \
        "$SHARED/login-joseph.out"
    type_in joseph 7 'ls -l; cat "$(readlink latest.odt)"'
    expect "everything is as he left it" login_run joseph 7 \
        "grep -q 'draft 1: sources' '$report' && [ \"\$(readlink latest.odt)\" = '$report' ] && [ \"\$(stat -c %a '$report')\" = 600 ]"
    type_in joseph 7 "echo 'draft 2: at the library' >> '$report'"
    device

    say "Joseph logs out and takes his stick"
    log_out joseph 7
    safe_to_remove
    signal_host unplug
    expect "the stick is pulled (hot-unplugged from the host)" wait_for_host unplugged 30
    note "host: $(cat "$SHARED/unplugged")"
    expect "pershomed no longer lists it" wait_until 10 sh -c '! busctl --system tree org.pershome1 | grep -q device/ubdb'
    show busctl --system tree org.pershome1

    say "A patron without a stick logs in at library-t3"
    log_in patron4711 8
    type_in patron4711 8 'echo "I am $(id -un), my home is $HOME"; ls -la'
    props /org/pershome1/session/patron4711 org.pershome1.Session Home Mode State
    expect "the patron's home is temporary" prop_is session_prop patron4711 Mode 's "tmphome"'
    type_in patron4711 8 'echo "Notes for my report" > notes.txt; ls -l notes.txt'

    say "The patron logs out"
    log_out patron4711 8
    expect "his home is gone" wait_until 10 test ! -e /run/tmphome/patron4711
    note "/run/tmphome now holds: [$(ls -A /run/tmphome)]"
}
