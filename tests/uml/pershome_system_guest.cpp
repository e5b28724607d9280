#include "tests/uml/pershome_system_guest.hpp"

#include <fmt/core.h>

#include <fstream>
#include <stdexcept>

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
          fmt::format(
              R"(<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/bus/socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="signal"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  <include>{}</include>
</busconfig>
)",
              PERSHOME_POLICY_FILE));
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
