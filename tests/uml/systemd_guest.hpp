// A UML guest with systemd as PID 1 (guest/systemd_boot.sh): the root is an
// overlay of the host's / (read-only) under a tmpfs, the unit path holds only
// the units named here, and the shipped pershomed.service runs the build
// tree's daemon under the real system dbus-daemon with the shipped policy and
// the real systemd-udevd and journald. The guest script runs from a oneshot
// service once pershomed owns its bus name; its checks report as usual.
//
//   write_system_files(tmp, SystemFiles{});   // users, PAM, pershomed.json
//   write_systemd_sysroot(tmp);
//   UmlMachine m(tmp);
//   boot_with_systemd(m);                     // boot script and guest library
//   GuestResult r = m.run(script, 60s);
//
// Besides system.sh's functions (its private-bus address is replaced by the
// system bus's), the script gets `unit_prop UNIT PROP` (systemctl show's
// value). pershomed's journal lands in SHARED/pershomed.log, the whole boot's
// in SHARED/journal.log.
#pragma once

#include <filesystem>
#include <string>

#include "tests/uml/uml_machine.hpp"

namespace pershome::test::uml {

// Writes SHARED/sysroot: the files systemd_boot.sh copies into the guest's
// overlay (unit directory, PAM service, D-Bus policy, udev rule). Call after
// write_system_files, whose files it takes.
void write_systemd_sysroot(const std::filesystem::path& shared);

// Makes M boot systemd and gives its script the guest functions.
void boot_with_systemd(UmlMachine& m);

}  // namespace pershome::test::uml
