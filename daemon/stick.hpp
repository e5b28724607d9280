// What the daemon knows of one block device that may be a stick, and the rule
// that tells a stick from a system disk (udisks2's: removable media, or a USB
// or FireWire bus), which the udev properties PERSHOME_STICK=1 and
// PERSHOME_IGNORE=1 override either way.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace pershome {

// What udev said of the device, raw (labels are arbitrary bytes).
struct StickProps {
    std::string syspath;
    std::string sysname;        // "sdb1", "sdb", "ubdb", "dm-0"
    std::string devnode;        // "/dev/sdb1"
    std::string devtype;        // "disk" or "partition"
    std::string fs_type;        // ID_FS_TYPE
    std::string label;          // ID_FS_LABEL_ENC decoded, else ID_FS_LABEL
    std::string uuid;           // ID_FS_UUID
    std::string bus;            // ID_BUS
    bool removable = false;     // sysfs "removable" of the disk
    bool force_stick = false;   // PERSHOME_STICK=1
    bool force_ignore = false;  // PERSHOME_IGNORE=1
    uint64_t size_bytes = 0;
};

// Filesystems a stick home may live on: vfat, and exfat where the kernel has it.
bool stick_fs_supported(std::string_view fs_type);

// Whether PROPS is a stick the daemon should offer. WHY says the rule that
// decided, for the log.
bool is_stick(const StickProps& props, std::string* why = nullptr);

// Decodes udev's ID_FS_LABEL_ENC ("My\x20Stick" with \xNN escapes).
std::string udev_decode(std::string_view encoded);

// The object name of a device: its sysname, or for a remote one the name given.
std::string device_object_path(const std::string& name);

}  // namespace pershome
