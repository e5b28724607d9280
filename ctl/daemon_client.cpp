#include "ctl/daemon_client.hpp"

#include <systemd/sd-bus.h>

#include <algorithm>
#include <cstdlib>
#include <map>

#include "common/bus_names.hpp"
#include "pershome1-proxy.h"

namespace pershome::ctl {
namespace {

using Properties = std::map<std::string, sdbus::Variant>;
using Interfaces = std::map<std::string, Properties>;

constexpr const char* kObjectManager = "org.freedesktop.DBus.ObjectManager";

// The generated proxy, for the manager's own properties and methods.
class ManagerProxy : public sdbus::ProxyInterfaces<org::pershome1::Manager_proxy> {
  public:
    explicit ManagerProxy(sdbus::IConnection& connection)
        : ProxyInterfaces(connection, bus::kBusName, bus::kManagerPath) {
        registerProxy();
    }
    ~ManagerProxy() { unregisterProxy(); }
    using ProxyInterfaces::getProxy;
};

// A property of the expected type, or FALLBACK: a newer daemon may add or
// change properties, and an old pershomectl must still show the rest.
template <typename T>
T get(const Properties& props, const char* name, T fallback = T{}) {
    auto it = props.find(name);
    if (it == props.end() || !it->second.containsValueOfType<T>()) return fallback;
    return it->second.get<T>();
}

SessionInfo session_from(const std::string& path, const Properties& p) {
    SessionInfo s;
    s.object = path;
    s.user = get<std::string>(p, "User");
    s.uid = get<uint32_t>(p, "Uid");
    s.gid = get<uint32_t>(p, "Gid");
    s.mode = get<std::string>(p, "Mode");
    s.home = get<std::string>(p, "Home");
    s.state = get<std::string>(p, "State");
    s.references = get<uint32_t>(p, "References");
    s.opened_usec = get<uint64_t>(p, "OpenedUSec");
    s.device = object_name(get<sdbus::ObjectPath>(p, "Device"), bus::kDevicePathPrefix);
    s.degraded = get<bool>(p, "Degraded");
    return s;
}

DeviceInfo device_from(const std::string& path, const Properties& p) {
    DeviceInfo d;
    d.object = path;
    d.name = object_name(path, bus::kDevicePathPrefix);
    d.node = get<std::string>(p, "DeviceNode");
    d.label = get<std::string>(p, "Label");
    d.uuid = get<std::string>(p, "UUID");
    d.fs_type = get<std::string>(p, "FsType");
    d.size = get<uint64_t>(p, "Size");
    d.has_home = get<bool>(p, "HasHome");
    d.state = get<std::string>(p, "State");
    d.user = get<std::string>(p, "User");
    d.mount_point = get<std::string>(p, "MountPoint");
    d.error = get<std::string>(p, "Error");
    d.last_user = get<std::string>(p, "LastUser");
    d.last_host = get<std::string>(p, "LastHost");
    d.last_used = get<uint64_t>(p, "LastUsed");
    return d;
}

// Errors that mean pershomed cannot be reached at all (exit 3), as opposed
// to a call it answered with a refusal.
bool unreachable(const std::string& name) {
    static const char* const kNames[] = {
        "org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner",
        "org.freedesktop.DBus.Error.NoServer",       "org.freedesktop.DBus.Error.Disconnected",
        "org.freedesktop.DBus.Error.NoReply",        "org.freedesktop.DBus.Error.Timeout",
        "org.freedesktop.DBus.Error.FileNotFound",   "org.sdbus-cpp.Error"};
    if (name.rfind("System.Error.", 0) == 0) return true;
    return std::find(std::begin(kNames), std::end(kNames), name) != std::end(kNames);
}

}  // namespace

std::string object_name(const std::string& path, const std::string& prefix) {
    char* decoded = nullptr;
    if (sd_bus_path_decode(path.c_str(), prefix.c_str(), &decoded) <= 0 || !decoded) return "";
    std::string name(decoded);
    std::free(decoded);
    return name;
}

Result<DaemonClient> DaemonClient::connect(const BusTarget& target) {
    DaemonClient client(target);
    try {
        if (!target.address.empty()) {
            // sd-bus's own way to a system bus at another address: sdbus-c++
            // 1.2's createSessionBusConnectionWithAddress leaks its sd_bus
            // when the address cannot be opened. (-H excludes --bus-address.)
            ::setenv("DBUS_SYSTEM_BUS_ADDRESS", target.address.c_str(), 1);
        }
        client.connection_ = target.host.empty()
                                 ? sdbus::createSystemBusConnection()
                                 : sdbus::createRemoteSystemBusConnection(target.host);
    } catch (const sdbus::Error& e) {
        return tl::unexpected(client.bus_error(e, "connect"));
    }
    return client;
}

CtlError DaemonClient::bus_error(const sdbus::Error& e, const std::string& what) const {
    const std::string name = e.getName();
    if (unreachable(name)) {
        std::string how = target_.host.empty()
                              ? "the system bus"
                              : "ssh (ssh -xT " + target_.host + " systemd-stdio-bridge)";
        if (!target_.address.empty()) how = "the bus at " + target_.address;
        return {kExitUnreachable, "cannot reach pershomed on " + target_.where() + " through " +
                                      how + ": " + e.getMessage() + " (" + name + ")"};
    }
    if (name == "org.freedesktop.DBus.Error.AccessDenied" || name == bus::kErrorPermissionDenied) {
        return {kExitFailed, what + ": permission denied, only root may do this: " +
                                 e.getMessage() + " (" + name + ")"};
    }
    if (name == "org.freedesktop.DBus.Error.UnknownMethod") {
        return {kExitFailed, what + ": the pershomed on " + target_.where() +
                                 " does not offer this call (" + name + ": " + e.getMessage() +
                                 ")"};
    }
    return {kExitFailed, what + ": " + e.getMessage() + " (" + name + ")"};
}

Result<Snapshot> DaemonClient::snapshot() {
    Snapshot snap;
    try {
        ManagerProxy manager(*connection_);
        std::map<sdbus::ObjectPath, Interfaces> objects;
        manager.getProxy()
            .callMethod("GetManagedObjects")
            .onInterface(kObjectManager)
            .storeResultsTo(objects);
        snap.version = manager.Version();
        for (const auto& [path, interfaces] : objects) {
            if (auto it = interfaces.find(bus::kSessionInterface); it != interfaces.end())
                snap.sessions.push_back(session_from(path, it->second));
            if (auto it = interfaces.find(bus::kDeviceInterface); it != interfaces.end())
                snap.devices.push_back(device_from(path, it->second));
        }
    } catch (const sdbus::Error& e) {
        return tl::unexpected(bus_error(e, "status"));
    }
    std::sort(snap.sessions.begin(), snap.sessions.end(),
              [](const auto& a, const auto& b) { return a.user < b.user; });
    std::sort(snap.devices.begin(), snap.devices.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    return snap;
}

Result<void> DaemonClient::detach_device(const std::string& name, const std::string& what) {
    try {
        ManagerProxy manager(*connection_);
        manager.DetachDevice(name);
    } catch (const sdbus::Error& e) {
        return tl::unexpected(bus_error(e, what));
    }
    return {};
}

Result<std::optional<std::string>> DaemonClient::call_if_offered(
    const std::string& object, const std::string& interface, const std::string& method,
    const std::vector<std::string>& args, const std::string& what) {
    try {
        auto proxy = sdbus::createProxy(*connection_, bus::kBusName, object);
        auto call = proxy->createMethodCall(interface, method);
        for (const auto& arg : args) call << arg;
        // Ending a session waits for its teardown (a stick written back).
        auto reply = proxy->callMethod(call, std::chrono::seconds(120));
        std::string type, contents, message;
        reply.peekType(type, contents);
        if (type == "s") reply >> message;
        return message;
    } catch (const sdbus::Error& e) {
        if (e.getName() == "org.freedesktop.DBus.Error.UnknownMethod" ||
            e.getName() == "org.freedesktop.DBus.Error.UnknownInterface")
            return std::nullopt;
        return tl::unexpected(bus_error(e, what));
    }
}

}  // namespace pershome::ctl
