// Boots user-mode Linux with the whole system (tests/uml/pershome_system_guest)
// and a FAT32 stick holding a home of 1,000 files, and runs login_latency in
// it: pershomed's login and logout of a persistent home against the bare
// mount sequence, side by side. A gtest binary only to reuse the UML harness.
#include <gtest/gtest.h>

#include <iostream>

#include "tests/support/temp_dir.hpp"
#include "tests/uml/pershome_guest.hpp"
#include "tests/uml/pershome_system_guest.hpp"
#include "tests/uml/uml_machine.hpp"

namespace {

using namespace pershome::test;
using namespace pershome::test::uml;
using namespace std::chrono_literals;

TEST(PersistentLoginBench, LoginAndLogoutAgainstTheBareSequence) {
    if (std::string why = home_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
    TempDir tmp("pershome-bench-login");
    const auto stick = tmp / "stick.img";
    make_fat32_image(stick, 128, {"pershome"}, "BENCH");
    write_system_files(tmp.path(), SystemFiles{});
    UmlMachine m(tmp.path(), "phbench" + std::to_string(::getpid()));
    m.add_disk("ubdb", stick);
    m.add_guest_library(pershome_guest_library());
    m.add_guest_library(system_guest_library());
    const std::string rounds = std::getenv("BENCH_ROUNDS") ? std::getenv("BENCH_ROUNDS") : "9";
    GuestResult r = m.run(
        R"sh(
check system_up system_up || exit 1
check probed wait_until 30 prop_is device_prop ubdb HasHome "b true" || exit 1
# A home of 1,000 files, written through pershome-fs as a user would.
login_start w joseph
exec 7>/run/login-w.in
check open_w login_wait_open w || exit 1
check fill login_run w 7 'cd && mkdir docs mail && i=0 && while [ $i -lt 500 ]; do echo $i > docs/report-$i.txt; echo $i > "mail/1733300000.M$i.host:2,S"; i=$((i+1)); done'
check close_w login_close w 7
check safe wait_until 30 prop_is device_prop ubdb State 's "safe-to-remove"' || exit 1
mkdir -p /run/bare-stick /run/bare-home
check bench ")sh" +
            std::string(LOGIN_LATENCY_BIN) +
            R"sh(" /dev/ubdb /run/bare-stick /run/bare-home "$FS_BIN" 20001 joseph /org/pershome1/device/ubdb )sh" +
            rounds + R"sh(
cat /run/.check-out
)sh",
        600s);
    std::cout << r.out.substr(
                     r.out.find("@@ok bench") == std::string::npos ? 0 : r.out.find("@@ok bench"))
              << std::endl;
    EXPECT_TRUE(r.all_passed()) << r.describe();
}

}  // namespace
