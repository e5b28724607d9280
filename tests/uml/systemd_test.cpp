// pershomed under a real systemd (PID 1 of a UML guest, systemd_guest.hpp):
// the shipped unit, the system bus with the shipped policy, udevd probing the
// stick. A persistent home's pershome-fs lives in a scope of its own, so
// `systemctl restart`, `kill --signal=KILL` and `stop` of pershomed leave the
// home mounted and working, and the logout after them still undoes
// everything in order.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "tests/support/temp_dir.hpp"
#include "tests/uml/pershome_guest.hpp"
#include "tests/uml/pershome_system_guest.hpp"
#include "tests/uml/systemd_guest.hpp"
#include "tests/uml/uml_machine.hpp"

namespace {

namespace fs = std::filesystem;
using namespace pershome::test;
using namespace pershome::test::uml;
using namespace std::chrono_literals;

// Joseph logs in with his stick; the admin restarts pershomed, then it is
// killed with SIGKILL (systemd restarts it), then stopped (the next bus call
// starts it by D-Bus activation); his home stays mounted and writable
// throughout, the daemon comes back knowing his session each time, and his
// logout tears it all down. pershome-fs logs to the journal as its scope.
TEST(Systemd, HomesOutliveRestartAndKillOfTheDaemon) {
    if (std::string why = home_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
    TempDir tmp("pershome-uml");
    const fs::path stick = tmp / "stick.img";
    make_fat32_image(stick, 64, {"pershome"}, "JOSEPH");
    write_system_files(tmp.path(), SystemFiles{});
    write_systemd_sysroot(tmp.path());
    const std::string script = R"sh(
in_scope() { grep -Eqx '0::/system\.slice/pershome-fs-20001-[0-9]+-[0-9]+-[0-9]+\.scope' "/proc/$1/cgroup"; }
main_pid_changed() {
    _p=$(unit_prop pershomed.service MainPID)
    [ -n "$_p" ] && [ "$_p" != 0 ] && [ "$_p" != "$1" ] && systemctl is-active --quiet pershomed.service
}
home_works() { login_run a 7 "cd && grep -q one before.txt && echo $1 > $1.txt && grep -q $1 $1.txt"; }
# The home as the admin sees it after each blow to the daemon. The property
# read comes first: after a stop, it is what starts pershomed again (D-Bus
# activation through systemd).
home_kept() {
    check "fs_alive_$1" kill -0 "$FS"
    check "fs_in_scope_$1" in_scope "$FS"
    check "home_mounted_$1" expect_eq "fstype_$1" fuse.pershome-fs "$(mounted_at /run/tmphome/joseph)"
    check "home_works_$1" home_works "$1"
    check "session_known_$1" prop_is session_prop joseph Mode 's "persistent"'
    check "name_owned_$1" wait_until 20 _name_owned
    check "stick_in_use_$1" wait_until 10 prop_is device_prop ubdb State 's "in-use"'
}
mkdir -p /run/tmphome
check pid1_is_systemd expect_eq pid1 systemd "$(cat /proc/1/comm)"
check daemon_active systemctl is-active pershomed.service || exit 1
check daemon_in_its_unit grep -qx '0::/system.slice/pershomed.service' "/proc/$(unit_prop pershomed.service MainPID)/cgroup"
check name_owned _name_owned || exit 1
check stick_probed wait_until 30 prop_is device_prop ubdb HasHome "b true" || exit 1

login_start a joseph
exec 7>/run/login-a.in
check open_a login_wait_open a || exit 1
check open_a_ok login_opened a || exit 1
check home_is_pershome_fs expect_eq home_fstype fuse.pershome-fs "$(mounted_at /run/tmphome/joseph)"
FS=$(pgrep -x pershome-fs)
cat "/proc/$FS/cgroup" > "$SHARED/fs-cgroup"
check fs_in_own_scope in_scope "$FS"
SCOPE=$(sed -n 's|^0::/system\.slice/||p' "/proc/$FS/cgroup")
check scope_active systemctl is-active "$SCOPE"
check write_before login_run a 7 'cd && echo one > before.txt'

OLD=$(unit_prop pershomed.service MainPID)
check restart systemctl restart pershomed.service
check restarted main_pid_changed "$OLD"
home_kept restart

OLD=$(unit_prop pershomed.service MainPID)
check kill systemctl kill --signal=KILL pershomed.service
check back_after_kill wait_until 20 main_pid_changed "$OLD"
check restarted_once expect_eq restarts 1 "$(unit_prop pershomed.service NRestarts)"
home_kept kill

check stop systemctl stop pershomed.service
check_fails name_released _name_owned
home_kept stop
check activated_by_bus systemctl is-active pershomed.service

check close_a login_close a 7
check fs_ended wait_until 20 sh -c "! kill -0 $FS"
check scope_gone sh -c "! systemctl is-active --quiet '$SCOPE'"
check home_unmounted expect_eq home_after "" "$(mounted_at /run/tmphome/joseph)"
check mount_point_removed test ! -e /run/tmphome/joseph
check stick_unmounted sh -c '! grep -q " /run/pershome/sticks" /proc/self/mountinfo'
check safe_to_remove wait_until 30 prop_is device_prop ubdb State 's "safe-to-remove"'
check fsck_clean fsck.fat -n /dev/ubdb
# Under its own name, not pershomed's. Not matched by the scope's unit: its
# last line, written as it exits, came without that field in one run.
check fs_logs_as_itself wait_until 20 sh -c "journalctl -t pershome-fs -o cat | grep -q 'index writes'"
check fs_not_in_daemon_log sh -c "! journalctl -u pershomed.service -o cat | grep -q 'index writes'"
check daemon_logs_to_journal sh -c 'journalctl -u pershomed.service -o cat | grep -q joseph'

# Logged in again when the machine shuts down, pershomed stopped first (so no
# logout tears the home down): systemd must stop the scope before it unmounts
# the stick (the host reads the order on the console, and the stick).
login_start b joseph
exec 8>/run/login-b.in
check open_b login_wait_open b || exit 1
check open_b_ok login_opened b
check write_before_shutdown login_run b 8 'cd && echo last > shutdown.txt'
FS=$(pgrep -x pershome-fs)
check scope_after_stick sh -c "systemctl show -P After \"\$(sed -n 's|^0::/system\.slice/||p' /proc/$FS/cgroup)\" | grep -qw run-pershome-sticks-ubdb.mount"
check stop_for_shutdown systemctl stop pershomed.service
# The session stays open until the shutdown ends the runner.
sleep 1000 > /run/login-b.in &
: > "$SHARED/uml/poweroff-orderly"
)sh";
    UmlMachine m(tmp.path(), "psysd" + std::to_string(::getpid()));
    m.add_disk("ubdb", stick);
    boot_with_systemd(m);
    GuestResult r = m.run(script, 240s);
    if (!r.all_passed()) {
        tmp.keep();
        ADD_FAILURE() << r.describe() << "\nguest uptime at init, modules, switch to systemd: "
                      << read_file(tmp / "uml/init-started")
                      << read_file(tmp / "uml/modules-loaded") << read_file(tmp / "uml/switched")
                      << "pershomed's journal:\n"
                      << read_file(tmp / "pershomed.log");
    }
    std::cerr << "systemd guest: runner started " << r.boot_time.count() << " ms after boot, "
              << r.total_time.count() << " ms in all\n";
    EXPECT_NE(read_file(tmp / "fs-cgroup").find(".scope"), std::string::npos);
    // At the orderly shutdown: pershome-fs ended (its index written) before
    // the stick under it was unmounted.
    const std::string console = read_file(tmp / "uml/console.log");
    const auto scope_stopped = console.find("Stopped pershome-fs-20001-");
    const auto stick_unmounted = console.find("Unmounting run-pershome-sticks-ubdb");
    EXPECT_NE(scope_stopped, std::string::npos);
    EXPECT_NE(stick_unmounted, std::string::npos);
    EXPECT_LT(scope_stopped, stick_unmounted);
    FsckResult f = fsck_vfat(stick);
    EXPECT_TRUE(f.clean) << f.output;
    for (const char* name : {"before.txt", "restart.txt", "kill.txt", "stop.txt", "shutdown.txt"}) {
        auto names = mdir_names(stick, "::/pershome");
        EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
    }
}

}  // namespace
