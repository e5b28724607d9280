// The whole pershome system inside a UmlMachine, every part the real one:
// udevd probing the stick (marked PERSHOME_STICK=1 by a rule, as ubd disks are
// not removable), a private dbus-daemon with the shipped policy, pershomed,
// and logins through Linux-PAM with pam_pershome.so, users from a passwd file
// bind-mounted over /etc/passwd (the guest's mounts stay in the guest).
#pragma once

#include <filesystem>
#include <string>

namespace pershome::test::uml {

// Users: joseph (uid 20001) and patron (20002), both with homes below the
// tmphome root /run/tmphome (joseph's is made as a mount point), and
// staff (20003) whose home /run/staffhome/staff exists (an ordinary home).
struct SystemFiles {
    std::string persistent_homes = "*\n";  // persistent_homes(5)
    std::string extra_config;              // more pershomed.json keys, ",\"k\": v"
    // Which disks udev marks PERSHOME_STICK=1 (ubd disks are not removable).
    std::string stick_kernel_names = "ubd[b-z]*";
};

// Writes passwd, group, pam.d, the bus config, pershomed.json and
// persistent_homes into SHARED.
void write_system_files(const std::filesystem::path& shared, const SystemFiles& files);

// Guest shell functions (besides pershome_guest_library's):
//   system_up              udev (with the stick rule), bus, users, pershomed
//   daemon_start           starts pershomed ($DAEMON_PID), waits for its bus name
//   login_start NAME USER  a login in the background ($SHARED/login-NAME.out)
//                          reading commands from /run/login-NAME.in; then
//                          `exec 7>/run/login-NAME.in` (or 8, 9) and
//   login_wait_open NAME   waits for its "open" line; "open 0 " is success
//   login_run NAME FD CMD  runs CMD as the user in the home, waits for it
//   login_close NAME FD    closes the session, waits for the process
//   device_prop DEV PROP   busctl get-property of /org/pershome1/device/DEV
//   session_prop USER PROP the same of the session
//   mounted_at PATH        prints the fstype mounted at PATH (nothing if none)
std::string system_guest_library();

}  // namespace pershome::test::uml
