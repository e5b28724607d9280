#include "tests/uml/pershome_system_guest.hpp"

#include <fmt/core.h>

#include <fstream>
#include <stdexcept>

#include "tests/support/private_bus.hpp"

namespace pershome::test::uml {
namespace {

namespace fs = std::filesystem;

void write(const fs::path& p, const std::string& text) {
    std::ofstream f(p);
    f << text;
    if (!f) throw std::runtime_error("cannot write " + p.string());
}

// Guest functions for the whole system (guest/system.sh).
const char* const kSystemFunctions =
#include "guest/system.sh.inc"
    ;

}  // namespace

void write_system_files(const fs::path& shared, const SystemFiles& files) {
    write(shared / "passwd",
          "root:x:0:0:root:/root:/bin/sh\n"
          "joseph:x:20001:20001:Joseph:/run/tmphome/joseph:/bin/sh\n"
          "patron:x:20002:20002:Patron:/run/tmphome/patron:/bin/sh\n"
          "staff:x:20003:20003:Staff:/run/staffhome/staff:/bin/sh\n"
          "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
    write(shared / "group",
          "root:x:0:\njoseph:x:20001:\npatron:x:20002:\nstaff:x:20003:\njournalism:x:21000:joseph\n"
          "nogroup:x:65534:\n");
    fs::create_directories(shared / "pam.d");
    fs::create_directories(shared / "skel");
    write(shared / "skel" / ".profile", "# skel\n");
    write(shared / "pam.d" / "pershome",
          fmt::format("session required {} tmphome=/run/tmphome/ skel={}/ debug\n"
                      "session required pam_permit.so\n",
                      PERSHOME_PAM_MODULE, (shared / "skel").string()));
    write(shared / "pam.d" / "other", "session required pam_permit.so\n");
    write(shared / "bus.conf",
          PrivateBus::config("/run/bus/socket", PrivateBus::Policy::System, PERSHOME_POLICY_FILE));
    write(shared / "persistent_homes", files.persistent_homes);
    write(shared / "90-pershome-test.rules",
          fmt::format("SUBSYSTEM==\"block\", KERNEL==\"{}\", ENV{{PERSHOME_STICK}}=\"1\"\n",
                      files.stick_kernel_names));
    write(shared / "pershomed.json",
          fmt::format(R"({{"state_dir": "/run/pershome", "persistent_homes": "{}",
 "pershome_fs": "{}", "log_level": "debug", "logout_grace_sec": 2,
 "tmphome_roots": ["/run/tmphome"]{}}})",
                      (shared / "persistent_homes").string(), PERSHOME_FS_BIN_PATH,
                      files.extra_config));
}

std::string system_guest_library() {
    return fmt::format("PERSHOMED_BIN='{}'\nPAM_LOGIN_BIN='{}'\n", PERSHOMED_BIN_PATH,
                       PAM_LOGIN_BIN_PATH) +
           kSystemFunctions;
}

}  // namespace pershome::test::uml
