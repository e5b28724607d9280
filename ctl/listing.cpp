#include "ctl/listing.hpp"

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "ctl/table.hpp"

namespace pershome::ctl {
namespace {

using nlohmann::json;

json session_json(const SessionInfo& s) {
    return {{"user", s.user},
            {"uid", s.uid},
            {"gid", s.gid},
            {"mode", s.mode},
            {"home", s.home},
            {"state", s.state},
            {"logins", s.references},
            {"opened_usec", s.opened_usec},
            {"device", s.device.empty() ? json(nullptr) : json(s.device)},
            {"degraded", s.degraded},
            {"object", s.object}};
}

json device_json(const DeviceInfo& d) {
    return {{"name", d.name},           {"device_node", d.node},
            {"label", d.label},         {"uuid", d.uuid},
            {"fs_type", d.fs_type},     {"size", d.size},
            {"has_home", d.has_home},   {"state", d.state},
            {"user", d.user},           {"mount_point", d.mount_point},
            {"error", d.error},         {"last_user", d.last_user},
            {"last_host", d.last_host}, {"last_used", d.last_used},
            {"object", d.object}};
}

// Strings on D-Bus are valid UTF-8, but a newer daemon or a hand-made call
// is no promise: replace rather than abort on a bad byte.
std::string dump(const json& j) {
    return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string session_state(const SessionInfo& s) {
    return s.degraded ? s.state + " (stick pulled)" : s.state;
}

std::string last_use(const DeviceInfo& d) {
    if (d.last_used == 0 && d.last_user.empty()) return "-";
    return fmt::format("{}@{} {}", d.last_user, d.last_host,
                       human_time(static_cast<long long>(d.last_used)));
}

}  // namespace

std::string sessions_table(const Snapshot& snap) {
    if (snap.sessions.empty()) return "No sessions.\n";
    Table t({"USER", "UID", "MODE", "STATE", "LOGINS", "SINCE", "DEVICE", "HOME"});
    for (const auto& s : snap.sessions) {
        t.add({s.user, std::to_string(s.uid), s.mode, session_state(s),
               std::to_string(s.references),
               human_time(static_cast<long long>(s.opened_usec / 1000000)),
               s.device.empty() ? "-" : s.device, s.home});
    }
    return t.render();
}

std::string devices_table(const Snapshot& snap) {
    if (snap.devices.empty()) return "No sticks.\n";
    Table t({"DEVICE", "NODE", "LABEL", "FS", "SIZE", "HOME", "STATE", "USER", "LAST USE"});
    for (const auto& d : snap.devices) {
        std::string state = d.error.empty() ? d.state : d.state + ": " + d.error;
        t.add({d.name, d.node.empty() ? "-" : d.node, d.label.empty() ? "-" : d.label, d.fs_type,
               d.size ? human_size(d.size) : "-", d.has_home ? "yes" : "no", state,
               d.user.empty() ? "-" : d.user, last_use(d)});
    }
    return t.render();
}

std::string status_table(const Snapshot& snap, const std::string& where) {
    std::string out = fmt::format("pershomed {} on {}: {} session{}, {} stick{}.\n", snap.version,
                                  where, snap.sessions.size(), snap.sessions.size() == 1 ? "" : "s",
                                  snap.devices.size(), snap.devices.size() == 1 ? "" : "s");
    if (!snap.sessions.empty()) out += "\n" + sessions_table(snap);
    if (!snap.devices.empty()) out += "\n" + devices_table(snap);
    return out;
}

std::string sessions_json(const Snapshot& snap) {
    json a = json::array();
    for (const auto& s : snap.sessions) a.push_back(session_json(s));
    return dump(a);
}

std::string devices_json(const Snapshot& snap) {
    json a = json::array();
    for (const auto& d : snap.devices) a.push_back(device_json(d));
    return dump(a);
}

std::string status_json(const Snapshot& snap, const std::string& host) {
    json sessions = json::array(), devices = json::array();
    for (const auto& s : snap.sessions) sessions.push_back(session_json(s));
    for (const auto& d : snap.devices) devices.push_back(device_json(d));
    return dump({{"host", host.empty() ? json(nullptr) : json(host)},
                 {"version", snap.version},
                 {"sessions", sessions},
                 {"devices", devices}});
}

}  // namespace pershome::ctl
