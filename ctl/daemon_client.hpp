// pershomed as pershomectl sees it: one connection to the system bus (local,
// an explicit address, or a remote host through ssh as `busctl -H` does),
// a snapshot of every session and device in one GetManagedObjects round
// trip (it matters over ssh), and the few root-only calls.
#pragma once

#include <sdbus-c++/sdbus-c++.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ctl/ctl_error.hpp"

namespace pershome::ctl {

struct BusTarget {
    std::string host;     // user@host for ssh, or ""
    std::string address;  // a D-Bus address instead of the system bus, or ""
    // "this machine" or the host, for messages.
    std::string where() const { return host.empty() ? "this machine" : host; }
};

struct SessionInfo {
    std::string object, user, mode, home, state;
    uint32_t uid = 0, gid = 0, references = 0;
    uint64_t opened_usec = 0;
    std::string device;  // the device's name, "" for a temporary home
    bool degraded = false;
};

struct DeviceInfo {
    std::string object, name;  // name: the object path's last part, decoded
    std::string node, label, uuid, fs_type, state, user, mount_point, error;
    std::string last_user, last_host;
    uint64_t size = 0, last_used = 0;
    bool has_home = false;
};

struct Snapshot {
    std::string version;
    std::vector<SessionInfo> sessions;  // by user
    std::vector<DeviceInfo> devices;    // by name
};

class DaemonClient {
  public:
    static Result<DaemonClient> connect(const BusTarget& target);

    Result<Snapshot> snapshot();
    // Manager.DetachDevice: a remote stick is gone (root only).
    Result<void> detach_device(const std::string& name, const std::string& what);

    // A root-only call that an older pershomed (another client, -H) may
    // lack: Manager.TerminateUser(s user) -> (s message) and Device.Eject()
    // -> (s message). The reply's message, or nullopt when it is missing.
    Result<std::optional<std::string>> call_if_offered(const std::string& object,
                                                       const std::string& interface,
                                                       const std::string& method,
                                                       const std::vector<std::string>& args,
                                                       const std::string& what);

  private:
    explicit DaemonClient(const BusTarget& target) : target_(target) {}
    CtlError bus_error(const sdbus::Error& e, const std::string& what) const;

    BusTarget target_;
    std::unique_ptr<sdbus::IConnection> connection_;
};

// The last part of an object path below PREFIX, decoded (term07_2dsdb1 ->
// term07-sdb1); "" when PATH is not below PREFIX.
std::string object_name(const std::string& path, const std::string& prefix);

}  // namespace pershome::ctl
