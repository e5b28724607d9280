// Persistent homes end to end in user-mode Linux: a FAT32 stick hot-plugged
// with uml_mconsole, probed by udevd, mounted by pershomed with the kernel's
// vfat at a login through Linux-PAM, pershome-fs on the home, and everything
// undone at logout. See pershome_system_guest.hpp for the guest's parts.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
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

std::string read_text(const fs::path& p) {
    std::ifstream f(p);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

class PersistentHome : public testing::Test {
  protected:
    void SetUp() override {
        if (std::string why = home_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
    }
    // Boots with SCRIPT, plugs STICK when the guest says "ready", returns the result.
    GuestResult run_with_plug(const std::string& script, const fs::path& stick,
                              std::chrono::seconds timeout = 120s) {
        m_ = std::make_unique<UmlMachine>(tmp_.path(), "phome" + std::to_string(::getpid()));
        m_->add_guest_library(pershome_guest_library());
        m_->add_guest_library(system_guest_library());
        m_->start(script);
        if (m_->wait_for_file("ready", Clock::now() + 60s)) {
            plug_reply_ = m_->mconsole("config ubdb=" + stick.string());
            std::ofstream(tmp_ / "plugged") << plug_reply_;
        }
        GuestResult r = m_->finish(timeout);
        if (!r.all_passed()) {
            tmp_.keep();
            ADD_FAILURE() << r.describe() << "\npershomed log:\n" << daemon_log();
        }
        return r;
    }
    std::string daemon_log() { return read_text(tmp_ / "pershomed.log"); }
    std::string login_out(const std::string& name) {
        return read_text(tmp_ / ("login-" + name + ".out"));
    }

    TempDir tmp_{"pershome-uml"};
    std::unique_ptr<UmlMachine> m_;
    std::string plug_reply_;
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
    std::string listing = read_text(tmp_ / "listing-1");
    EXPECT_NE(listing.find("./1733300000.M1P2.host:2,S|f|640|1|5|"), std::string::npos) << listing;
    EXPECT_NE(listing.find("./hardlink.txt|f|644|2|2|"), std::string::npos) << listing;
    EXPECT_NE(listing.find("./latest.odt|l|777|1|"), std::string::npos) << listing;
}

}  // namespace
