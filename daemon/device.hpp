// One stick the daemon offers: /org/pershome1/device/<name>. Owned by the
// Manager; the bus layer only reads it.
#pragma once

#include <cstdint>
#include <string>

#include "daemon/stick.hpp"

namespace pershome {

enum class DeviceState {
    Idle,          // plugged, not mounted
    InUse,         // a home lives on it
    SafeToRemove,  // was in use, now unmounted: may be pulled
    Gone,          // pulled (while in use: the session is degraded)
    Failed,        // cannot be used (fsck failed, mount failed): says Error
};

const char* to_string(DeviceState state);

// The record kept inside <stick>/pershome (PERSHOME.USE): who used the
// stick last, where and when, so the next login can say it.
struct LastUse {
    std::string user;
    std::string host;
    int64_t time = 0;  // seconds since the epoch; 0: never recorded
};

struct Device {
    std::string name;  // object name: sysname ("sdb1") or an attached remote name
    StickProps props;
    bool probed = false;    // has_home and last_use are known
    bool has_home = false;  // a pershome/ folder was found
    LastUse last_use;
    DeviceState state = DeviceState::Idle;
    std::string user;         // whose home is on it
    std::string mount_point;  // where the raw stick is mounted, "" if not
    std::string error;        // why it is Failed, or what the probe found odd
    // A remote stick (AttachDevice): mounted by this backend of
    // pershomed.json's stick_backends, from source; no udev.
    std::string backend;
    std::string source;

    // The label as people read it: escaped, or the device name without one.
    std::string display_name() const;
};

}  // namespace pershome
