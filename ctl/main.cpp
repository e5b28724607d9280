// pershomectl: an admin's view of pershomed over D-Bus (pershomectl(1)).
#include <fmt/core.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <optional>

#include "ctl/admin_commands.hpp"
#include "ctl/check_command.hpp"
#include "ctl/daemon_client.hpp"
#include "ctl/listing.hpp"
#include "ctl/prepare_command.hpp"

#ifndef PERSHOME_VERSION
#define PERSHOME_VERSION "unknown"
#endif

namespace pershome::ctl {
namespace {

struct Options {
    BusTarget target;
    bool json = false, repair = false, force = false, list = false;
    std::string user, device, path;
};

Result<int> show(const Options& o, const std::string& what) {
    auto client = DaemonClient::connect(o.target);
    if (!client) return tl::unexpected(client.error());
    auto snap = client->snapshot();
    if (!snap) return tl::unexpected(snap.error());
    std::string text;
    if (what == "status")
        text = o.json ? status_json(*snap, o.target.host) : status_table(*snap, o.target.where());
    else if (what == "sessions")
        text = o.json ? sessions_json(*snap) : sessions_table(*snap);
    else
        text = o.json ? devices_json(*snap) : devices_table(*snap);
    std::fputs(text.c_str(), stdout);
    return kExitOk;
}

Result<int> prepare(const Options& o) {
    if (o.list) {
        // The dialog works without pershomed too: then only /media counts.
        std::optional<Snapshot> snap;
        if (auto client = DaemonClient::connect(o.target))
            if (auto s = client->snapshot()) snap = std::move(*s);
        return prepare_list(snap);
    }
    if (o.path.empty()) return fail("prepare: which stick? Give its mount point or device", 2);
    return prepare_command(o.path, o.force);
}

Result<int> admin(const Options& o, bool terminate) {
    auto client = DaemonClient::connect(o.target);
    if (!client) return tl::unexpected(client.error());
    return terminate ? terminate_command(*client, o.target, o.user)
                     : eject_command(*client, o.target, o.device);
}

int run(int argc, char** argv) {
    CLI::App app{"Look at pershomed's sessions and sticks, end sessions, check and prepare sticks.",
                 "pershomectl"};
    app.set_version_flag("--version", PERSHOME_VERSION);
    app.require_subcommand(1);
    app.fallthrough();  // global options also after the subcommand
    Options o;
    auto* host = app.add_option("-H,--host", o.target.host,
                                "Talk to pershomed on USER@HOST through ssh (as busctl -H)")
                     ->type_name("USER@HOST");
    app.add_option("--bus-address", o.target.address, "Use the bus at ADDRESS (unix:path=...)")
        ->type_name("ADDRESS")
        ->excludes(host);
    app.add_flag("--system")->description("Use the system bus (the default)");
    app.add_flag("--json", o.json, "status, sessions, devices: JSON for scripts");

    auto* status = app.add_subcommand("status", "pershomed's version, sessions and sticks");
    auto* sessions = app.add_subcommand("sessions", "The users with an open session");
    auto* devices = app.add_subcommand("devices", "The sticks pershomed knows");
    auto* terminate = app.add_subcommand("terminate", "End USER's session now (root)");
    terminate->add_option("USER", o.user, "The user")->required();
    auto* eject = app.add_subcommand("eject", "Let a stick go: detach a remote one (root)");
    eject->add_option("DEVICE", o.device, "Name, device node or label")->required();
    auto* check = app.add_subcommand("check", "Check the metadata of a stick's home folder");
    check->add_option("PATH", o.path, "The stick's top or its pershome folder, unmounted")
        ->required();
    check->add_flag("--repair", o.repair, "Rewrite what is stale");
    auto* prep = app.add_subcommand("prepare", "Make a FAT stick carry a persistent home");
    prep->add_option("TARGET", o.path, "The stick's mount point or its (mounted) device");
    prep->add_flag("--force", o.force, "Prepare a folder that is not a FAT stick's top too");
    prep->add_flag("--list", o.list, "List mounted sticks, one per line (for pershome-prepare)");

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        fmt::print(stderr, "pershomectl: {}\nRun pershomectl --help for usage.\n", e.what());
        return kExitUsage;
    }
    Result<int> r = fail("no command");
    if (status->parsed()) r = show(o, "status");
    if (sessions->parsed()) r = show(o, "sessions");
    if (devices->parsed()) r = show(o, "devices");
    if (terminate->parsed()) r = admin(o, true);
    if (eject->parsed()) r = admin(o, false);
    if (check->parsed()) r = check_command(o.path, o.repair);
    if (prep->parsed()) r = prepare(o);
    std::fflush(stdout);
    if (!r) {
        fmt::print(stderr, "pershomectl: {}\n", r.error().message);
        return r.error().exit_code;
    }
    return *r;
}

}  // namespace
}  // namespace pershome::ctl

int main(int argc, char** argv) {
    try {
        return pershome::ctl::run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "pershomectl: %s\n", e.what());
        return pershome::ctl::kExitFailed;
    }
}
