# Shell functions for every UML guest script (tests/uml/uml_machine.hpp),
# sourced before it. Reports go to stdout as "@@ok NAME" or "@@fail NAME ..."
# followed by "@@| " detail lines, which the host parses into
# GuestResult::checks. Embedded in the harness at build time; scripts/demo
# uses it too.

# _uptime_cs: the guest's uptime in centiseconds, in $_cs (no fork: checks
# report how long they took, for finding where a test's time goes).
_uptime_cs() {
    read -r _cs _cs_rest < /proc/uptime
    _cs=$(( ${_cs%.*} * 100 + 1${_cs#*.} - 100 ))
}
# check NAME CMD [ARG...]: runs CMD in this shell (functions work), output
# captured; reports ok when it exits 0. Returns CMD's status.
check() {
    _c_name=$1; shift
    _uptime_cs; _c_t0=$_cs
    "$@" >/run/.check-out 2>&1
    _c_st=$?
    _uptime_cs; _c_cs=$((_cs - _c_t0))
    _c_secs="$((_c_cs / 100)).$((_c_cs / 10 % 10))$((_c_cs % 10)) s"
    if [ "$_c_st" -eq 0 ]; then
        echo "@@ok $_c_name ($_c_secs)"
    else
        echo "@@fail $_c_name: status $_c_st after $_c_secs: $*"
        sed 's/^/@@| /' /run/.check-out | head -n 40
    fi
    return "$_c_st"
}
# check_fails NAME CMD [ARG...]: CMD must fail (exit non-zero).
check_fails() {
    _c_name=$1; shift
    "$@" >/run/.check-out 2>&1
    _c_st=$?
    if [ "$_c_st" -ne 0 ]; then
        echo "@@ok $_c_name"
    else
        echo "@@fail $_c_name: succeeded but must fail: $*"
        sed 's/^/@@| /' /run/.check-out | head -n 40
    fi
    [ "$_c_st" -ne 0 ]
}
# expect_eq NAME EXPECTED ACTUAL
expect_eq() {
    if [ "$2" = "$3" ]; then
        echo "@@ok $1"
    else
        echo "@@fail $1: values differ"
        printf '%s\n' "expected: $2" "actual:   $3" | sed 's/^/@@| /'
        return 1
    fi
}
# fail NAME MESSAGE: reports a failed check.
fail() { echo "@@fail $1: $2"; return 1; }
pass() { echo "@@ok $1"; }
# signal_host NAME: makes $SHARED/NAME for UmlMachine::wait_for_file.
signal_host() { : > "$SHARED/$1"; }
# The waits below count guest time (uptime), not loop rounds: under load a
# round's fork of sleep costs more than its 0.1 s.
# wait_for_host NAME [SECONDS]: waits for the host to make $SHARED/NAME.
wait_for_host() {
    _uptime_cs; _w_end=$((_cs + ${2:-30} * 100))
    while [ ! -e "$SHARED/$1" ]; do
        _uptime_cs; [ "$_cs" -lt "$_w_end" ] || return 1
        sleep 0.1
    done
}
# wait_until SECONDS CMD [ARG...]: polls CMD every 0.1 s until it succeeds.
wait_until() {
    _uptime_cs; _u_end=$((_cs + $1 * 100)); shift
    until "$@"; do
        _uptime_cs; [ "$_cs" -lt "$_u_end" ] || return 1
        sleep 0.1
    done
}
# wait_pid PID SECONDS: waits for a child to end, returns its status, or 124
# if it is still running at the deadline (it is left running).
wait_pid() {
    _uptime_cs; _p_end=$((_cs + $2 * 100))
    while kill -0 "$1" 2>/dev/null; do
        _uptime_cs; [ "$_cs" -lt "$_p_end" ] || return 124
        sleep 0.1
    done
    wait "$1"
}
# load_module NAME...: modprobe from UML's module tree (dependencies included).
load_module() {
    for _m in "$@"; do modprobe -d /run/.modroot "$_m" || return 1; done
}
# start_udev: udevd, and add events for the block devices there are.
start_udev() {
    /lib/systemd/systemd-udevd --daemon &&
    udevadm trigger --action=add --subsystem-match=block &&
    udevadm settle --timeout=30
}
