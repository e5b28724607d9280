// pershomed: the root D-Bus service org.pershome1 that prepares and tears down
// users' homes at login and logout.
#include <getopt.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sdbus-c++/sdbus-c++.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "common/bus_names.hpp"
#include "config/daemon_config.hpp"
#include "daemon/event_loop.hpp"
#include "daemon/log.hpp"
#include "daemon/manager.hpp"
#include "daemon/manager_bus.hpp"
#include "daemon/state_store.hpp"
#include "daemon/udev_watch.hpp"
#include "daemon/user_db.hpp"
#include "daemon/worker_pool.hpp"
#include "homework/errno_text.hpp"

#ifndef PERSHOME_VERSION
#define PERSHOME_VERSION "unknown"
#endif

namespace {

constexpr const char* kDefaultConfig = "/etc/ltsp/pershomed.json";

void usage(FILE* out) {
    std::fprintf(out,
                 "Usage: pershomed [--config FILE] [--check-config]\n"
                 "\n"
                 "Root D-Bus service org.pershome1: temporary and persistent home\n"
                 "directories for LTSP users, driven by pam_pershome.so.\n"
                 "\n"
                 "  -c, --config FILE   JSON configuration (default %s; a missing\n"
                 "                      default file means all defaults)\n"
                 "      --check-config  parse the configuration, print the effective one, exit\n"
                 "  -h, --help          show this help and exit\n"
                 "      --version       show the version and exit\n"
                 "\n"
                 "The system bus is found through DBUS_SYSTEM_BUS_ADDRESS when set.\n"
                 "See pershomed(8) and pershomed.json(5).\n",
                 kDefaultConfig);
}

// Descriptors besides the references: the bus, the udev monitor, workers'
// mounts and probes, the state dir.
constexpr rlim_t kFdsBesidesReferences = 256;

// The soft fd limit up to the hard one (systemd gives services 1024 soft):
// each open login holds one. Returns a warning when max_references does
// not fit, or nothing.
std::string raise_fd_limit(const pershome::config::DaemonConfig& cfg, bool apply) {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return fmt::format("getrlimit: {}", pershome::homework::errno_text(errno));
    if (apply && rl.rlim_cur < rl.rlim_max) {
        rlimit raised{rl.rlim_max, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
    }
    const rlim_t needed = static_cast<rlim_t>(cfg.max_references) + kFdsBesidesReferences;
    const rlim_t limit = apply ? rl.rlim_cur : rl.rlim_max;
    if (limit != RLIM_INFINITY && limit < needed)
        return fmt::format(
            "max_references {} needs about {} file descriptors, the limit is {}: logins past "
            "about {} will fail with \"too many open files\" (raise LimitNOFILE= or lower "
            "max_references)",
            cfg.max_references, needed, limit,
            limit > kFdsBesidesReferences ? limit - kFdsBesidesReferences : 0);
    return "";
}

int run(const pershome::config::DaemonConfig& cfg) {
    using namespace pershome;
    // Our files are written with explicit modes; never let an inherited umask
    // widen or narrow them.
    umask(022);
    EventLoop loop;
    StateStore store(cfg.state_dir);
    prime_user_db();
    WorkerPool workers(loop, static_cast<unsigned>(cfg.workers));
    ManagerSettings settings;
    settings.default_skel = cfg.default_skel;
    if (!cfg.tmphome_roots.empty()) {
        settings.tmphome_root_allowed = [&cfg](std::string_view root) {
            return cfg.allows_tmphome_root(root);
        };
    }
    settings.persistent_homes = cfg.persistent_homes;
    settings.pershome_fs = cfg.pershome_fs;
    settings.stick_settle = cfg.stick_settle;
    settings.fsck_timeout = cfg.fsck_timeout;
    settings.mount_timeout = cfg.mount_timeout;
    settings.logout_grace = cfg.logout_grace;
    settings.max_references_per_user = cfg.max_references_per_user;
    settings.max_references = cfg.max_references;
    if (const char* slow = std::getenv("PERSHOMED_TEST_SLOW_OPEN_MS"))
        settings.test_slow_open = std::chrono::milliseconds(std::atoi(slow));
    settings.stick_backends = cfg.stick_backends;
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) == 0) settings.hostname = host;
    std::unique_ptr<UdevWatch> udev;
    Manager* manager_ptr = nullptr;
    try {
        udev = std::make_unique<UdevWatch>(
            loop, [&manager_ptr](UdevWatch::Action a, const StickProps& p) {
                if (!manager_ptr) return;
                manager_ptr->device_event(a == UdevWatch::Action::Add      ? DeviceAction::Add
                                          : a == UdevWatch::Action::Change ? DeviceAction::Change
                                                                           : DeviceAction::Remove,
                                          p);
            });
        settings.udev_busy = [&udev] { return udev->udev_busy(); };
    } catch (const std::exception& e) {
        // Temporary homes still work; persistent ones fall back.
        log::error("{}: no sticks will be seen", e.what());
    }
    Manager manager(settings, loop, workers, store);
    manager_ptr = &manager;

    auto connection = sdbus::createSystemBusConnection();
    ManagerObject manager_object(*connection, manager);
    manager.recover();
    if (udev) udev->start();
    // The name last: no call can arrive before the old sessions are back.
    connection->requestName(bus::kBusName);
    log::notice("pershomed {} ready on the system bus as {} (state in {})", PERSHOME_VERSION,
                bus::kBusName, cfg.state_dir);

    loop.set_signal_handler([&loop](int signo) {
        if (signo == SIGHUP) {
            log::info("SIGHUP ignored: configuration is read at start");
            return;
        }
        log::notice("signal {} received; stopping (open sessions stay, state is kept)",
                    strsignal(signo));
        loop.quit();
    });
    loop.set_dynamic_source(
        EventLoop::DynamicSource{[&connection](int& fd, short& events, int& timeout_ms) {
                                     auto pd = connection->getEventLoopPollData();
                                     fd = pd.fd;
                                     events = pd.events;
                                     timeout_ms = pd.getPollTimeout();
                                 },
                                 [&connection] {
                                     while (connection->processPendingRequest()) {
                                     }
                                 }});
    loop.run();
    connection->releaseName(bus::kBusName);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    enum { kOptVersion = 1000, kOptCheck };
    static const option longopts[] = {{"config", required_argument, nullptr, 'c'},
                                      {"check-config", no_argument, nullptr, kOptCheck},
                                      {"help", no_argument, nullptr, 'h'},
                                      {"version", no_argument, nullptr, kOptVersion},
                                      {nullptr, 0, nullptr, 0}};
    std::string config_path;
    bool check_only = false;
    int c;
    while ((c = getopt_long(argc, argv, "c:h", longopts, nullptr)) != -1) {
        switch (c) {
            case 'c':
                config_path = optarg;
                break;
            case kOptCheck:
                check_only = true;
                break;
            case 'h':
                usage(stdout);
                return 0;
            case kOptVersion:
                std::printf("pershomed %s\n", PERSHOME_VERSION);
                return 0;
            default:
                usage(stderr);
                return 2;
        }
    }
    if (optind < argc) {
        std::fprintf(stderr, "pershomed: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    pershome::config::DaemonConfig cfg;
    try {
        if (!config_path.empty()) {
            cfg = pershome::config::load_daemon_config(config_path);
        } else if (access(kDefaultConfig, F_OK) == 0) {
            cfg = pershome::config::load_daemon_config(kDefaultConfig);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "pershomed: %s\n", e.what());
        return 1;
    }
    pershome::log::set_level(
        static_cast<pershome::log::Level>(pershome::config::syslog_priority(cfg.log_level)));
    if (check_only) {
        std::printf("%s\n", pershome::config::dump_daemon_config(cfg).c_str());
        if (auto w = raise_fd_limit(cfg, false); !w.empty())
            std::fprintf(stderr, "pershomed: warning: %s\n", w.c_str());
        return 0;
    }
    if (auto w = raise_fd_limit(cfg, true); !w.empty()) pershome::log::warning("{}", w);
    try {
        return run(cfg);
    } catch (const std::exception& e) {
        pershome::log::error("fatal: {}", e.what());
        return 1;
    }
}
