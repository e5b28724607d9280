#include "ctl/admin_commands.hpp"

#include <fmt/core.h>

#include <algorithm>

#include "common/bus_names.hpp"
#include "ctl/table.hpp"

namespace pershome::ctl {
namespace {

// For an older pershomed without Device.Eject: what it can tell, and a remote
// stick detached with the call it has.
Result<int> eject_without_eject_call(DaemonClient& client, const BusTarget& target,
                                     const DeviceInfo& d, const std::string& what) {
    if (d.state == "in-use")
        return fail(
            fmt::format("{}: the stick is in use by {} (pershomectl terminate {} ends "
                        "that session first)",
                        what, terminal_text(d.user), terminal_text(d.user)));
    if (d.fs_type == "remote") {
        if (auto done = client.detach_device(d.name, what); !done)
            return tl::unexpected(done.error());
        fmt::print("Detached the remote stick {} from pershomed on {}.\n", terminal_text(d.name),
                   target.where());
        return kExitOk;
    }
    if (!d.mount_point.empty())
        return fail(
            fmt::format("{}: pershomed is still looking at the stick ({}); try again in a moment",
                        what, d.state));
    fmt::print(
        "{} ({}) holds no home and pershomed has nothing mounted on it: safe to remove "
        "as far as pershome is concerned (a desktop that mounted it must eject it too).\n",
        terminal_text(d.node), terminal_text(d.label.empty() ? d.name : d.label));
    return kExitOk;
}

}  // namespace

Result<int> terminate_command(DaemonClient& client, const BusTarget& target,
                              const std::string& user) {
    const std::string what = "terminate " + terminal_text(user);
    auto snap = client.snapshot();
    if (!snap) return tl::unexpected(snap.error());
    auto it = std::find_if(snap->sessions.begin(), snap->sessions.end(),
                           [&](const SessionInfo& s) { return s.user == user; });
    if (it == snap->sessions.end())
        return fail(
            fmt::format("{}: no session of {} on {}", what, terminal_text(user), target.where()));
    auto done = client.call_if_offered(bus::kManagerPath, bus::kManagerInterface, "TerminateUser",
                                       {user}, what);
    if (!done) return tl::unexpected(done.error());
    if (!*done)
        return fail(
            fmt::format("{}: the pershomed on {} cannot end a session yet (it has no "
                        "{}.TerminateUser)",
                        what, target.where(), bus::kManagerInterface));
    fmt::print("Ended the session of {} on {} ({} home {}).\n", terminal_text(user), target.where(),
               it->mode, terminal_text(it->home));
    if (!(*done)->empty()) fmt::print("{}\n", terminal_text(**done));
    return kExitOk;
}

Result<int> eject_command(DaemonClient& client, const BusTarget& target,
                          const std::string& device) {
    const std::string what = "eject " + terminal_text(device);
    auto snap = client.snapshot();
    if (!snap) return tl::unexpected(snap.error());
    auto it = std::find_if(snap->devices.begin(), snap->devices.end(), [&](const DeviceInfo& d) {
        return d.name == device || d.node == device || d.object == device ||
               (!d.label.empty() && d.label == device);
    });
    if (it == snap->devices.end())
        return fail(fmt::format(
            "{}: pershomed on {} knows no stick of that name (pershomectl devices lists them)",
            what, target.where()));
    auto ejected = client.call_if_offered(it->object, bus::kDeviceInterface, "Eject", {}, what);
    if (!ejected) return tl::unexpected(ejected.error());
    if (!*ejected) return eject_without_eject_call(client, target, *it, what);
    fmt::print("{} is safe to remove.\n", terminal_text(it->label.empty() ? it->name : it->label));
    if (!(*ejected)->empty()) fmt::print("{}\n", terminal_text(**ejected));
    return kExitOk;
}

}  // namespace pershome::ctl
