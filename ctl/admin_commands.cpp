#include "ctl/admin_commands.hpp"

#include <fmt/core.h>

#include <algorithm>

#include "ctl/table.hpp"

namespace pershome::ctl {

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
    if (auto done = client.terminate_user(user, what); !done) return tl::unexpected(done.error());
    fmt::print("Ended the session of {} on {} ({} home {}).\n", terminal_text(user), target.where(),
               it->mode, terminal_text(it->home));
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
        return fail(
            fmt::format("{}: pershomed on {} knows no stick of that name "
                        "(pershomectl devices lists them)",
                        what, target.where()));
    if (it->state == "in-use")
        return fail(
            fmt::format("{}: the stick is in use by {} (pershomectl terminate {} ends "
                        "that session first)",
                        what, terminal_text(it->user), terminal_text(it->user)));
    if (it->fs_type == "remote") {
        if (auto done = client.detach_device(it->name, what); !done)
            return tl::unexpected(done.error());
        fmt::print("Detached the remote stick {} from pershomed on {}.\n", terminal_text(it->name),
                   target.where());
        return kExitOk;
    }
    if (!it->mount_point.empty())
        return fail(
            fmt::format("{}: pershomed is still looking at the stick ({}); try again in a "
                        "moment",
                        what, it->state));
    fmt::print(
        "{} ({}) holds no home and pershomed has nothing mounted on it: safe to remove "
        "as far as pershome is concerned (a desktop that mounted it must eject it too).\n",
        terminal_text(it->node), terminal_text(it->label.empty() ? it->name : it->label));
    return kExitOk;
}

}  // namespace pershome::ctl
