#include "tests/uml/systemd_guest.hpp"

#include <fmt/core.h>

#include <fstream>
#include <stdexcept>

#include "tests/uml/pershome_guest.hpp"
#include "tests/uml/pershome_system_guest.hpp"

namespace pershome::test::uml {
namespace {

namespace fs = std::filesystem;

// PID 1 before systemd (guest/systemd_boot.sh) and the runner service's script.
const char* const kSystemdBoot =
#include "guest/systemd_boot.sh.inc"
    ;
const char* const kRunner =
#include "guest/systemd_runner.sh.inc"
    ;

// The host's units the guest runs, and the targets they order against. With
// SYSTEMD_UNIT_PATH naming only our directory, nothing else the host has
// enabled (getty, networking, timers, generators' units) exists there.
const char* const kHostUnits[] = {
    "dbus.service",
    "dbus.socket",
    "systemd-journald.service",
    "systemd-journald.socket",
    "systemd-journald-dev-log.socket",
    "systemd-journald-audit.socket",
    "systemd-udevd.service",
    "systemd-udevd-control.socket",
    "systemd-udevd-kernel.socket",
    "systemd-udev-trigger.service",
    "sysinit.target",
    "basic.target",
    "sockets.target",
    "paths.target",
    "timers.target",
    "slices.target",
    "local-fs.target",
    "shutdown.target",
    "umount.target",
    "final.target",
    "poweroff.target",
    "systemd-poweroff.service",
};

void write(const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream f(p);
    f << text;
    if (!f) throw std::runtime_error("cannot write " + p.string());
}

void copy_into(const fs::path& from, const fs::path& to) {
    fs::create_directories(to.parent_path());
    fs::copy_file(from, to, fs::copy_options::overwrite_existing);
}

void write_units(const fs::path& shared, const fs::path& units) {
    fs::create_directories(units);
    for (const char* u : kHostUnits)
        fs::create_symlink(fs::path("/lib/systemd/system") / u, units / u);
    write(units / "pershome-test.target",
          "[Unit]\nDescription=pershome test system\n"
          "Wants=dbus.socket dbus.service systemd-journald.service systemd-udevd.service\n"
          "Wants=systemd-udev-trigger.service pershomed.service pershome-test-runner.service\n");
    fs::create_symlink("pershome-test.target", units / "default.target");
    // Only block devices: all of UML's 256 legacy ptys cost 25 s of coldplug.
    write(units / "systemd-udev-trigger.service.d" / "block.conf",
          "[Service]\nExecStart=\n"
          "ExecStart=-udevadm trigger --action=add --subsystem-match=block\n"
          "ExecStart=-udevadm settle --timeout=30\n");
    // The shipped unit as installed, running this build's daemon.
    copy_into(PERSHOMED_UNIT_FILE, units / "pershomed.service");
    write(units / "pershomed.service.d" / "build-tree.conf",
          fmt::format("[Service]\nExecStart=\nExecStart={} --config {}\n", PERSHOMED_BIN_PATH,
                      (shared / "pershomed.json").string()));
    write(units / "pershome-test-runner.service",
          fmt::format("[Unit]\nDescription=pershome test runner\n"
                      "After=pershomed.service systemd-udev-trigger.service\n"
                      "[Service]\nType=oneshot\nEnvironment=SHARED={}\n"
                      "ExecStart=/bin/sh /etc/pershome-test/runner.sh\n",
                      shared.string()));
}

}  // namespace

void write_systemd_sysroot(const fs::path& shared) {
    const fs::path root = shared / "sysroot";
    fs::remove_all(root);
    write_units(shared, root / "etc/pershome-test/units");
    write(root / "etc/pershome-test/runner.sh", kRunner);
    copy_into(shared / "pam.d" / "pershome", root / "etc/pam.d/pershome");
    copy_into(PERSHOME_POLICY_FILE, root / "etc/dbus-1/system.d/org.pershome1.conf");
    copy_into(PERSHOME_ACTIVATION_FILE,
              root / "usr/share/dbus-1/system-services/org.pershome1.service");
    copy_into(shared / "90-pershome-test.rules", root / "etc/udev/rules.d/90-pershome-test.rules");
}

void boot_with_systemd(UmlMachine& m) {
    m.set_boot_script(kSystemdBoot);
    m.add_guest_library(pershome_guest_library());
    m.add_guest_library(system_guest_library());
    // The system bus at its standard address, not system.sh's private one.
    m.add_guest_library(
        "unset DBUS_SYSTEM_BUS_ADDRESS\n"
        "unit_prop() { systemctl show -P \"$2\" \"$1\"; }\n");
}

}  // namespace pershome::test::uml
