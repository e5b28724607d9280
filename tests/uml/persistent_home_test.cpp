// Persistent homes end to end in user-mode Linux: a FAT32 stick hot-plugged
// with uml_mconsole, probed by udevd, mounted by pershomed with the kernel's
// vfat at a login through Linux-PAM, pershome-fs on the home, and everything
// undone at logout. See pershome_system_guest.hpp for the guest's parts.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "tests/support/temp_dir.hpp"
#include "tests/uml/pershome_guest.hpp"
#include "tests/uml/pershome_system_guest.hpp"
#include "tests/uml/uml_machine.hpp"

namespace {

namespace fs = std::filesystem;
using namespace pershome::test;
using namespace pershome::test::uml;
using namespace std::chrono_literals;

class PersistentHome : public testing::Test {
  protected:
    void SetUp() override {
        if (std::string why = home_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
    }
    // Boots with SCRIPT, plugs STICK when the guest says "ready", returns the result.
    GuestResult run_with_plug(const std::string& script, const fs::path& stick,
                              std::chrono::seconds timeout = 240s) {
        m_ = std::make_unique<UmlMachine>(tmp_.path(), "phome" + std::to_string(::getpid()));
        m_->add_guest_library(pershome_guest_library());
        m_->add_guest_library(system_guest_library());
        if (!m_module_.empty()) m_->add_module(m_module_);
        m_->start(script);
        if (m_->wait_for_file("ready", Clock::now() + 60s)) {
            plug_reply_ = m_->mconsole("config ubdb=" + stick.string());
            if (!second_stick_.empty())
                plug_reply_ += m_->mconsole("config ubdc=" + second_stick_.string());
            std::ofstream(tmp_ / "plugged") << plug_reply_;
        }
        GuestResult r = m_->finish(timeout);
        if (!r.all_passed()) {
            tmp_.keep();
            ADD_FAILURE() << r.describe() << "\npershomed log:\n" << daemon_log();
        }
        return r;
    }
    std::string daemon_log() { return read_file(tmp_ / "pershomed.log"); }
    std::string login_out(const std::string& name) {
        return read_file(tmp_ / ("login-" + name + ".out"));
    }

    TempDir tmp_{"pershome-uml"};
    std::unique_ptr<UmlMachine> m_;
    std::string plug_reply_;
    std::string m_module_;
    fs::path second_stick_;
};

// Joseph's day: his stick goes in, he logs in and writes his report with odd
// names, modes and links; pershomed is killed and restarted under his open
// session; he logs out; the stick is clean and safe to remove; he logs in
// again and finds everything exactly as he left it. Meanwhile a patron
// without a stick of his own gets a temporary home.
TEST_F(PersistentHome, LoginWriteLogoutAndBackAgain) {
    const fs::path stick = tmp_ / "stick.img";
    make_fat32_image(stick, 64, {"pershome"}, "JOSEPH");
    write_system_files(tmp_.path(), SystemFiles{});
    const std::string script = R"sh(
check system_up system_up || exit 1
check no_device_yet sh -c '! device_prop ubdb State | grep -q "^s "'
signal_host ready
check plugged wait_for_host plugged 60 || exit 1
check stick_probed wait_until 30 prop_is device_prop ubdb HasHome "b true" || exit 1
check stick_idle prop_is device_prop ubdb State 's "idle"'
check stick_label prop_is device_prop ubdb Label 's "JOSEPH"'

login_start a joseph
exec 7>/run/login-a.in
check open_a login_wait_open a || exit 1
check open_a_ok login_opened a || exit 1
check message_names_stick grep -q '^info: Your home is on the stick JOSEPH (/dev/ubdb), used as a home for the first time' "$SHARED/login-a.out"
check home_is_pershome_fs expect_eq home_fstype fuse.pershome-fs "$(mounted_at /run/tmphome/joseph)"
check stick_in_use prop_is device_prop ubdb State 's "in-use"'
check stick_user prop_is device_prop ubdb User 's "joseph"'
check session_mode prop_is session_prop joseph Mode 's "persistent"'
check session_device prop_is session_prop joseph Device 'o "/org/pershome1/device/ubdb"'
check raw_stick_is_roots_alone sh -c '[ "$(stat -c %a /run/pershome/sticks)" = 700 ]'
check write_report login_run a 7 'cd && printf "draft one\n" > "Biofuel feedstock report (draft 1).odt" && ln -s "Biofuel feedstock report (draft 1).odt" latest.odt' || exit 1
check write_mail login_run a 7 'cd && printf "mail\n" > "1733300000.M1P2.host:2,S" && chmod 640 "1733300000.M1P2.host:2,S"'
check write_links login_run a 7 'cd && mkdir -p "Notes/Old?" && printf "x\n" > "Notes/Old?/a:b.txt" && ln "Notes/Old?/a:b.txt" hardlink.txt && chmod 700 Notes && mkfifo pipe'
check owner_is_joseph login_run a 7 'cd && [ "$(stat -c %u:%g .)" = 20001:20001 ] && [ "$(stat -c %U "Biofuel feedstock report (draft 1).odt")" = joseph ]'

# pershomed killed under the open session: the home keeps working, and a
# restarted daemon knows the session again.
kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null
check home_works_without_daemon login_run a 7 'cd && echo kept > after-kill.txt && cat after-kill.txt'
check daemon_restarted daemon_start || exit 1
check session_recovered prop_is session_prop joseph Mode 's "persistent"'
check stick_in_use_after_restart wait_until 10 prop_is device_prop ubdb State 's "in-use"'
listing /run/tmphome/joseph > "$SHARED/listing-1"

# A patron logs in meanwhile: the stick is taken, he gets a temporary home.
login_start p patron
exec 8>/run/login-p.in
check open_p login_wait_open p
check open_p_ok login_opened p
check patron_told grep -q 'in use by joseph' "$SHARED/login-p.out"
check patron_tmphome grep -q 'is temporary' "$SHARED/login-p.out"
check patron_mode prop_is session_prop patron Mode 's "tmphome"'
check close_p login_close p 8
check patron_home_gone wait_until 10 test ! -e /run/tmphome/patron

check close_a login_close a 7
check safe_to_remove wait_until 30 prop_is device_prop ubdb State 's "safe-to-remove"'
check home_unmounted expect_eq home_after "" "$(mounted_at /run/tmphome/joseph)"
check mount_point_removed test ! -e /run/tmphome/joseph
check stick_unmounted sh -c '! grep -q " /run/pershome/sticks" /proc/self/mountinfo'
check fs_process_gone sh -c '! pgrep -x pershome-fs'
check fsck_clean fsck.fat -n /dev/ubdb

login_start b joseph
exec 9>/run/login-b.in
check open_b login_wait_open b || exit 1
check open_b_ok login_opened b
check message_last_use grep -q '^info: Your home is on the stick JOSEPH (/dev/ubdb), last used by joseph on ' "$SHARED/login-b.out"
listing /run/tmphome/joseph > "$SHARED/listing-2"
check same_home cmp "$SHARED/listing-1" "$SHARED/listing-2"
check content_back login_run b 9 'cd && grep -q "draft one" "Biofuel feedstock report (draft 1).odt" && [ "$(readlink latest.odt)" = "Biofuel feedstock report (draft 1).odt" ] && [ -p pipe ] && grep -q x hardlink.txt'
check close_b login_close b 9
check safe_again wait_until 30 prop_is device_prop ubdb State 's "safe-to-remove"'
check fsck_clean_again fsck.fat -n /dev/ubdb
)sh";
    GuestResult r = run_with_plug(script, stick);
    EXPECT_TRUE(r.all_passed());
    EXPECT_NE(plug_reply_.find("OK"), std::string::npos) << plug_reply_;
    // On the host: the stick is clean and holds the files under their names where FAT allows.
    FsckResult f = fsck_vfat(stick);
    EXPECT_TRUE(f.clean) << f.output;
    auto names = mdir_names(stick, "::/pershome");
    for (const char* want : {"Biofuel feedstock report (draft 1).odt", "after-kill.txt", "Notes"})
        EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
    std::string listing = read_file(tmp_ / "listing-1");
    EXPECT_NE(listing.find("./1733300000.M1P2.host:2,S|f|640|1|5|"), std::string::npos) << listing;
    EXPECT_NE(listing.find("./hardlink.txt|f|644|2|2|"), std::string::npos) << listing;
    EXPECT_NE(listing.find("./latest.odt|l|777|1|"), std::string::npos) << listing;
}

// Who gets what without a stick: the rule's fallback decides (tmphome, deny,
// none), a group rule comes before the user's own file, a user's opt-in file
// is honoured (a FIFO is not, and does not hang the login), and every login
// is told in one sentence what is missing and how to fix it.
TEST_F(PersistentHome, WithoutAStickTheFallbackApplies) {
    const fs::path stick = tmp_ / "empty.img";
    make_fat32_image(stick, 64, {"Documents"}, "EMPTY");
    SystemFiles files;
    files.persistent_homes = "@journalism fallback=deny\npatron\n";
    write_system_files(tmp_.path(), files);
    const std::string script = R"sh(
check system_up system_up || exit 1
# staff opts in herself (no admin rule covers her), with fallback=none.
printf 'fallback=none\n' > /run/staffhome/staff/.persistent_home
chown 20003:20003 /run/staffhome/staff/.persistent_home

login_start p patron
exec 7>/run/login-p.in
check open_p login_wait_open p
check open_p_ok login_opened p
check patron_told_no_stick grep -q '^info: No USB stick with a pershome folder is plugged in' "$SHARED/login-p.out"
check patron_tmphome prop_is session_prop patron Mode 's "tmphome"'
check close_p login_close p 7

login_start j joseph
exec 7>/run/login-j.in
check open_j login_wait_open j
check joseph_denied sh -c '! login_opened j'
check joseph_told_deny grep -q 'You cannot log in without it' "$SHARED/login-j.out"
check no_joseph_session sh -c '! session_prop joseph Mode | grep -q "^s "'
echo close >&7; exec 7>&-

login_start s staff
exec 7>/run/login-s.in
check open_s login_wait_open s
check open_s_ok login_opened s
check staff_told grep -q '^info: No USB stick .* Your usual home directory is used instead' "$SHARED/login-s.out"
check staff_home_untouched expect_eq staff_fstype "" "$(mounted_at /run/staffhome/staff)"
check close_s login_close s 7

# A FIFO as the opt-in file: ignored with a log line, the login goes on.
rm /run/staffhome/staff/.persistent_home
mkfifo /run/staffhome/staff/.persistent_home
chown 20003:20003 /run/staffhome/staff/.persistent_home
login_start f staff
exec 7>/run/login-f.in
check open_f login_wait_open f
check open_f_ok login_opened f
check fifo_no_message sh -c '! grep -q "^info:" "$SHARED/login-f.out"'
check fifo_logged grep -q 'persistent_home.*not a regular file' "$SHARED/pershomed.log"
check close_f login_close f 7

signal_host ready
check plugged wait_for_host plugged 60 || exit 1
# At once, while udev and pershomed still probe the stick: the login waits
# for them (stick_settle_ms) instead of saying that no stick is plugged.
login_start q patron
exec 7>/run/login-q.in
check open_q login_wait_open q
check open_q_ok login_opened q
check patron_told_no_folder grep -q "^info: The stick EMPTY (/dev/ubdb) has no pershome folder: create a folder named pershome at its top (or run pershome-prepare)" "$SHARED/login-q.out"
check close_q login_close q 7
check stick_probed prop_is device_prop ubdb HasHome "b false"
check daemon_alive kill -0 "$DAEMON_PID"
)sh";
    run_with_plug(script, stick);
}

// A stick pulled in the middle of a session (device-mapper's error target
// and a remove uevent): the daemon marks the device gone and the session
// degraded, detaches the home and stays up; the logout ends the session; the
// stick plugged in again is repaired and shows what was synced before.
TEST_F(PersistentHome, StickPulledMidSession) {
    const fs::path stick = tmp_ / "stick.img";
    make_fat32_image(stick, 64, {"pershome"}, "JOSEPH");
    SystemFiles files;
    files.stick_kernel_names = "dm-*";
    write_system_files(tmp_.path(), files);
    const std::string script = R"sh(
check system_up system_up || exit 1
signal_host ready
check plugged wait_for_host plugged 60 || exit 1
N=$(blockdev --getsz /dev/ubdb)
check dm_create dmsetup create stick --table "0 $N linear /dev/ubdb 0" || exit 1
# The object name is the kernel's, escaped as sd_bus_path_encode does.
DM=$(basename "$(readlink -f /dev/mapper/stick)" | sed 's/-/_2d/')
check stick_probed wait_until 30 prop_is device_prop "$DM" HasHome "b true" || exit 1
login_start a joseph
exec 7>/run/login-a.in
check open_a login_wait_open a || exit 1
check open_a_ok login_opened a || exit 1
check write_synced login_run a 7 'cd && printf "before the pull\n" > kept.txt && sync kept.txt && sync .'

dmsetup suspend stick && dmsetup load stick --table "0 $N error" && dmsetup resume stick
echo remove > "/sys/block/$(basename "$(readlink -f /dev/mapper/stick)")/uevent"
check device_gone wait_until 20 prop_is device_prop "$DM" State 's "gone"'
check session_degraded wait_until 20 prop_is session_prop joseph Degraded "b true"
check home_detached wait_until 30 sh -c '[ -z "$(mounted_at /run/tmphome/joseph)" ]'
check fs_process_ended wait_until 30 sh -c '! pgrep -x pershome-fs'
check daemon_alive kill -0 "$DAEMON_PID"
check close_a login_close a 7
check session_gone wait_until 20 sh -c '! session_prop joseph Mode | grep -q "^s "'
check device_object_gone wait_until 20 sh -c '! device_prop "$DM" State | grep -q "^s "'
check mount_point_removed test ! -e /run/tmphome/joseph

# Plugged in again: repaired, and what was synced is there.
check dm_removed wait_until 20 dmsetup remove stick
check dm_again dmsetup create stick --table "0 $N linear /dev/ubdb 0"
DM=$(basename "$(readlink -f /dev/mapper/stick)" | sed 's/-/_2d/')
check probed_again wait_until 30 prop_is device_prop "$DM" HasHome "b true"
login_start b joseph
exec 8>/run/login-b.in
check open_b login_wait_open b || exit 1
check open_b_ok login_opened b
check told_repaired grep -q 'It was not removed safely last time and has been repaired' "$SHARED/login-b.out"
check synced_file_back login_run b 8 'grep -q "before the pull" ~/kept.txt'
check close_b login_close b 8
check fsck_clean fsck.fat -n /dev/mapper/stick
)sh";
    m_module_ = "dm-mod";
    run_with_plug(script, stick);
}

// At logout the home is busy: a leftover process of the user (ended by
// SIGTERM) and a shell of root's that sits in it (never ended: the home is
// detached lazily and the log names it). Two users with two sticks at once
// each get their own.
// A stick pulled last time (its dirty bit set) must be repaired before it is
// mounted read-write. Here the repair hangs: every read of the stick takes
// 2 s (device-mapper's delay target) and fsck_timeout_sec is 1. fsck.fat is
// killed at its deadline, the stick is not mounted, the user is told and
// gets the fallback. Then the same while the stick is pulled in the middle
// of its repair: the login falls back, the device goes, nothing is left.
TEST_F(PersistentHome, RepairThatHangsOrLosesItsStickFallsBack) {
    const fs::path stick = tmp_ / "dirty.img";
    make_fat32_image(stick, 64, {"pershome"}, "JOSEPH");
    {
        // The FAT32 boot sector's state byte (0x41): bit 0 is "dirty".
        std::fstream f(stick, std::ios::in | std::ios::out | std::ios::binary);
        f.seekg(0x41);
        char state = 0;
        f.read(&state, 1);
        state = static_cast<char>(state | 1);
        f.seekp(0x41);
        f.write(&state, 1);
    }
    SystemFiles files;
    files.stick_kernel_names = "dm-*";
    files.extra_config = ", \"fsck_timeout_sec\": 1";
    write_system_files(tmp_.path(), files);
    const std::string script = R"sh(
check system_up system_up || exit 1
check dm_delay load_module dm-delay || exit 1
signal_host ready
check plugged wait_for_host plugged 60 || exit 1
N=$(blockdev --getsz /dev/ubdb)
# Without waiting for udev, which probes a slowed device at 2 s a read.
dms() { dmsetup --noudevsync "$@"; }
dm_name() { dmsetup info -c --noheadings -o blkdevname "$1" | sed 's/-/_2d/'; }
slow_down() { dms suspend "$1" && dms load "$1" --table "0 $N delay /dev/ubdb 0 2000" && dms resume "$1"; }
no_stick_mounts() { ! grep -q ' /run/pershome/sticks/' /proc/self/mountinfo; }

check dm_create dms create stick --table "0 $N linear /dev/ubdb 0" || exit 1
DM=$(dm_name stick)
check stick_probed wait_until 30 prop_is device_prop "$DM" HasHome "b true" || exit 1
check slow slow_down stick
login_start a joseph
exec 7>/run/login-a.in
check open_a login_wait_open a || exit 1
check open_a_ok login_opened a
check told_not_repaired grep -q "could not be repaired (fsck.fat did not finish before its deadline and was killed)" "$SHARED/login-a.out"
check fallback_tmphome prop_is session_prop joseph Mode 's "tmphome"'
check stick_not_mounted no_stick_mounts
check device_failed prop_is device_prop "$DM" State 's "failed"'
check close_a login_close a 7
check fsck_ended wait_until 20 sh -c '! pgrep -x fsck.fat'

# A second mapping of the same disk (a new device), pulled during its repair.
check dm2_create dms create stick2 --table "0 $N linear /dev/ubdb 0" || exit 1
DM2=$(dm_name stick2)
check probed2 wait_until 30 prop_is device_prop "$DM2" HasHome "b true" || exit 1
check slow2 slow_down stick2
login_start b joseph
exec 8>/run/login-b.in
check repair_running wait_until 20 pgrep -x fsck.fat
dms suspend --noflush stick2 && dms load stick2 --table "0 $N error" && dms resume stick2
echo remove > "/sys/block/$(dmsetup info -c --noheadings -o blkdevname stick2)/uevent"
check open_b login_wait_open b || exit 1
check open_b_ok login_opened b
check told_b grep -q "could not be opened" "$SHARED/login-b.out"
check device2_gone wait_until 20 sh -c '! device_prop "$DM2" State | grep -q "^s "'
check nothing_mounted_b no_stick_mounts
check close_b login_close b 8
check daemon_alive kill -0 "$DAEMON_PID"
)sh";
    m_module_ = "dm-mod";
    run_with_plug(script, stick, 180s);
}

TEST_F(PersistentHome, BusyHomeAndTwoUsersWithTwoSticks) {
    const fs::path stick = tmp_ / "stick.img";
    const fs::path second = tmp_ / "second.img";
    make_fat32_image(stick, 64, {"pershome"}, "JOSEPH");
    make_fat32_image(second, 64, {"pershome"}, "PATRON");
    write_system_files(tmp_.path(), SystemFiles{});
    second_stick_ = second;
    const std::string script = R"sh(
check system_up system_up || exit 1
signal_host ready
check plugged wait_for_host plugged 60 || exit 1
check both_probed wait_until 30 prop_is device_prop ubdc HasHome "b true" || exit 1
check first_probed wait_until 30 prop_is device_prop ubdb HasHome "b true" || exit 1
login_start a joseph
exec 7>/run/login-a.in
check open_a login_wait_open a || exit 1
check joseph_on_ubdb prop_is device_prop ubdb User 's "joseph"'
login_start p patron
exec 8>/run/login-p.in
check open_p login_wait_open p || exit 1
check patron_on_ubdc prop_is device_prop ubdc User 's "patron"'
check patron_home_fuse expect_eq patron_fstype fuse.pershome-fs "$(mounted_at /run/tmphome/patron)"
check close_p login_close p 8
check ubdc_safe wait_until 30 prop_is device_prop ubdc State 's "safe-to-remove"'

check leftover login_run a 7 'cd && echo x > held.txt && (setsid sleep 600 < held.txt > /dev/null 2>&1 &) && true'
(cd /run/tmphome/joseph && exec sleep 600) &
ROOT_SHELL=$!
check close_a login_close a 7
check safe_to_remove wait_until 40 prop_is device_prop ubdb State 's "safe-to-remove"'
check user_process_ended sh -c '! pgrep -u 20001 sleep'
check root_process_spared kill -0 "$ROOT_SHELL"
check holder_logged grep -q "held by pid $ROOT_SHELL (sleep, uid 0)" "$SHARED/pershomed.log"
check stick_unmounted sh -c '! grep -q " /run/pershome/sticks" /proc/self/mountinfo'
kill "$ROOT_SHELL"
check fsck_clean fsck.fat -n /dev/ubdb
)sh";
    run_with_plug(script, stick);
}

// Replaces every copy of the 11-byte label FROM in the first MiBs of IMAGE
// (boot sector and root directory entry) with the bytes TO.
void patch_label(const fs::path& image, const std::string& from, const std::string& to) {
    ASSERT_EQ(from.size(), 11u);
    ASSERT_EQ(to.size(), 11u);
    std::fstream f(image, std::ios::in | std::ios::out | std::ios::binary);
    std::string head(4 << 20, '\0');
    f.read(head.data(), static_cast<std::streamsize>(head.size()));
    int patched = 0;
    for (std::size_t at = 0; (at = head.find(from, at)) != std::string::npos; at += from.size()) {
        f.clear();
        f.seekp(static_cast<std::streamoff>(at));
        f.write(to.data(), static_cast<std::streamsize>(to.size()));
        ++patched;
    }
    EXPECT_GE(patched, 2) << "label copies patched";
}

// Hostile sticks: a label of control bytes and invalid UTF-8 with a file
// named pershome; then twenty sticks at once (loop devices). The daemon
// stays up, escapes what it shows, never shows a raw control byte to a
// user, offers every stick, and takes the first in name order.
TEST_F(PersistentHome, HostileAndManySticks) {
    const fs::path stick = tmp_ / "hostile.img";
    make_fat32_image(stick, 64, {}, "ABCDEFGHIJK");
    patch_label(stick, "ABCDEFGHIJK", std::string("X\x1b[31mY\xff\n\x01ZZ", 11));
    std::ofstream(tmp_ / "pershome-file") << "not a folder\n";
    ASSERT_EQ(
        run_tool({"mcopy", "-i", stick.string(), (tmp_ / "pershome-file").string(), "::/pershome"})
            .status,
        0);
    SystemFiles files;
    files.stick_kernel_names = "ubd[b-z]*|loop*";
    files.extra_config = R"(, "stick_settle_ms": 500)";
    write_system_files(tmp_.path(), files);
    const std::string script = R"sh(
check system_up system_up || exit 1
signal_host ready
check plugged wait_for_host plugged 60 || exit 1
check probed wait_until 30 prop_has ubdb HasHome "^b false" || exit 1
check says_file prop_has ubdb Error "pershome is a file, not a folder"
check label_escaped prop_has ubdb Label 'x1b\[31mY'
login_start a joseph
exec 7>/run/login-a.in
check open_a login_wait_open a
check told_no_folder grep -q 'has no pershome folder' "$SHARED/login-a.out"
check no_raw_escape sh -c '! grep -q "$(printf "\033")" "$SHARED/login-a.out"'
check close_a login_close a 7

for i in $(seq 0 19); do
    truncate -s 4M /tmp/s$i.img && mkfs.fat -n "S$i" /tmp/s$i.img >/dev/null &&
        mmd -i /tmp/s$i.img ::/pershome || fail make_$i "cannot make stick $i"
done
for i in $(seq 0 19); do losetup -f /tmp/s$i.img; done
_twenty() { [ "$(busctl --system tree org.pershome1 2>/dev/null | grep -c 'device/loop')" -eq 20 ]; }
check twenty_devices wait_until 60 _twenty
_all_probed() { for i in $(seq 0 19); do prop_is device_prop loop$i HasHome "b true" || return 1; done; }
check twenty_probed wait_until 60 _all_probed
login_start b joseph
exec 8>/run/login-b.in
check open_b login_wait_open b
check open_b_ok login_opened b
check first_by_name prop_is device_prop loop0 User 's "joseph"'
check close_b login_close b 8
check loop0_safe wait_until 30 prop_is device_prop loop0 State 's "safe-to-remove"'
for i in $(seq 0 19); do losetup -d /dev/loop$i; done
_none() { ! busctl --system tree org.pershome1 2>/dev/null | grep -q 'device/loop'; }
check all_removed wait_until 60 _none
check daemon_alive kill -0 "$DAEMON_PID"
)sh";
    m_module_ = "loop";
    run_with_plug(script, stick, 240s);
}

// exfat where the kernel has none (this UML kernel, and the host's, have no
// exfat driver): the stick is seen and named, the admin reads why it is not
// used, the patron is told in one sentence, and the fallback applies.
TEST_F(PersistentHome, AnExfatStickWhereTheKernelHasNoExfatIsNamedAndFallsBack) {
    if (::access("/usr/sbin/mkfs.exfat", X_OK) != 0) GTEST_SKIP() << "exfatprogs is not installed";
    for (const auto& version : fs::directory_iterator("/usr/lib/uml/modules")) {
        if (fs::exists(version.path() / "kernel" / "fs" / "exfat"))
            GTEST_SKIP() << "this kernel has exfat: the vfat tests' path applies";
    }
    const fs::path stick = tmp_ / "exfat.img";
    ASSERT_EQ(run_tool({"truncate", "-s", "64M", stick.string()}).status, 0);
    ASSERT_EQ(run_tool({"mkfs.exfat", "-L", "EXSTICK", stick.string()}).status, 0);
    SystemFiles files;
    write_system_files(tmp_.path(), files);
    const std::string script = R"sh(
check system_up system_up || exit 1
signal_host ready
check plugged wait_for_host plugged 60 || exit 1
check seen wait_until 30 prop_has ubdb FsType '"exfat"' || exit 1
check labelled prop_has ubdb Label '"EXSTICK"'
check failed wait_until 30 prop_has ubdb State '"failed"'
check says_why prop_has ubdb Error "kernel cannot mount exfat (it has no exfat driver)"
check logged grep -q "ubdb.*this machine's kernel cannot mount exfat" "$SHARED/pershomed.log"
login_start p patron
exec 7>/run/login-p.in
check open_p login_wait_open p
check open_p_ok login_opened p
check patron_told grep -q "^info: The stick EXSTICK (/dev/ubdb) cannot be used: this machine's kernel cannot mount exfat (it has no exfat driver)\. Your home .* is temporary" "$SHARED/login-p.out"
check patron_tmphome prop_is session_prop patron Mode 's "tmphome"'
check close_p login_close p 7
check daemon_alive kill -0 "$DAEMON_PID"
)sh";
    run_with_plug(script, stick);
}

}  // namespace
