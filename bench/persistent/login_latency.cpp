// Runs inside a user-mode Linux guest (bench/persistent/bench_login.cpp boots
// it): the latency of a persistent home's login and logout through
// pershomed (OpenSession until it answers; CloseSession until the stick is
// safe to remove) against the bare sequence the daemon wraps, done with the
// same primitives in this process: mount(2) of the vfat, pershome-fs started
// and its mount seen in mountinfo; then unmount, wait for pershome-fs to
// exit, syncfs and unmount the stick. Rounds interleave the two; prints each
// round and the medians with their ratio.
#include <poll.h>
#include <sys/mount.h>
#include <unistd.h>

#include <sdbus-c++/sdbus-c++.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "common/bus_names.hpp"
#include "daemon/command.hpp"
#include "daemon/stick_mount.hpp"

using namespace pershome;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

struct Bare {
    std::string dev, stick_dir, home, fs_bin, uid;
    pid_t pid = 0;

    double open() {
        const auto t0 = Clock::now();
        if (auto m = mount_stick(dev, "vfat", stick_dir, false); !m)
            throw std::runtime_error(m.error());
        auto p = spawn_detached({fs_bin, "-f", "-o", "uid=" + uid + ",gid=" + uid + ",allow_other",
                                 stick_dir + "/pershome", home});
        if (!p) throw std::runtime_error(p.error());
        pid = *p;
        while (mounted_fs_type(home) != "fuse.pershome-fs")
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        return ms_since(t0);
    }
    double close() {
        const auto t0 = Clock::now();
        ::umount2(home.c_str(), 0);
        wait_exit(pid, std::chrono::seconds(30));
        std::string note = unmount_stick(stick_dir, std::chrono::seconds(5));
        if (!note.empty()) throw std::runtime_error(note);
        return ms_since(t0);
    }
};

struct Ours {
    std::unique_ptr<sdbus::IConnection> bus = sdbus::createSystemBusConnection();
    std::unique_ptr<sdbus::IProxy> manager =
        sdbus::createProxy(*bus, bus::kBusName, bus::kManagerPath);
    std::unique_ptr<sdbus::IProxy> device;
    std::string user, reference;
    sdbus::UnixFd fifo;

    double open() {
        std::map<std::string, sdbus::Variant> options{{"tmphome", sdbus::Variant("/run/tmphome/")},
                                                      {"service", sdbus::Variant("bench")}};
        sdbus::ObjectPath session;
        std::string mode, home, message;
        const auto t0 = Clock::now();
        manager->callMethod("OpenSession")
            .onInterface(bus::kManagerInterface)
            .withArguments(user, options)
            .storeResultsTo(session, mode, home, reference, fifo, message);
        const double t = ms_since(t0);
        if (mode != "persistent") throw std::runtime_error("not a persistent home: " + message);
        return t;
    }
    bool safe = false;
    void watch() {
        // Told by the daemon's PropertiesChanged, not polled: polling would
        // steal the one CPU of the guest from the work it measures.
        device->uponSignal("PropertiesChanged")
            .onInterface("org.freedesktop.DBus.Properties")
            .call([this](const std::string&, const std::map<std::string, sdbus::Variant>& changed,
                         const std::vector<std::string>&) {
                auto it = changed.find("State");
                if (it != changed.end() && it->second.get<std::string>() == "safe-to-remove")
                    safe = true;
            });
        device->finishRegistration();
    }
    double close() {
        safe = false;
        const auto t0 = Clock::now();
        std::string message;
        manager->callMethod("CloseSession")
            .onInterface(bus::kManagerInterface)
            .withArguments(user, reference, std::map<std::string, sdbus::Variant>{})
            .storeResultsTo(message);
        while (!safe) {
            while (bus->processPendingRequest()) {
            }
            if (safe) break;
            auto pd = bus->getEventLoopPollData();
            pollfd p{pd.fd, static_cast<short>(pd.events), 0};
            ::poll(&p, 1, 100);
        }
        const double t = ms_since(t0);
        fifo = sdbus::UnixFd();
        return t;
    }
};

}  // namespace

int main(int argc, char** argv) {
    if (argc != 9) {
        std::fprintf(stderr,
                     "usage: %s DEV STICK_DIR BARE_HOME PERSHOME_FS UID USER DEVICE_PATH ROUNDS\n",
                     argv[0]);
        return 2;
    }
    try {
        Bare bare{argv[1], argv[2], argv[3], argv[4], argv[5]};
        Ours ours;
        ours.user = argv[6];
        ours.device = sdbus::createProxy(*ours.bus, bus::kBusName, argv[7]);
        ours.watch();
        const int rounds = std::stoi(argv[8]);
        std::vector<double> bo, bc, oo, oc;
        for (int r = 0; r < rounds; ++r) {
            // Alternate which goes first, so that neither always finds the
            // stick's blocks in the cache the other warmed.
            auto run_bare = [&] {
                bo.push_back(bare.open());
                bc.push_back(bare.close());
            };
            auto run_ours = [&] {
                oo.push_back(ours.open());
                oc.push_back(ours.close());
            };
            if (r % 2) {
                run_ours();
                run_bare();
            } else {
                run_bare();
                run_ours();
            }
            std::printf(
                "round %d: login bare %.1f ms, pershomed %.1f ms; logout bare %.1f ms, "
                "pershomed %.1f ms\n",
                r + 1, bo.back(), oo.back(), bc.back(), oc.back());
        }
        const double mbo = median(bo), moo = median(oo), mbc = median(bc), moc = median(oc);
        std::printf(
            "login  (median of %d): bare %.1f ms, pershomed %.1f ms: %.2fx, overhead "
            "%.1f ms (target <= 1.5x and < 100 ms)\n",
            rounds, mbo, moo, moo / mbo, moo - mbo);
        std::printf(
            "logout (median of %d): bare %.1f ms, pershomed %.1f ms: %.2fx, overhead "
            "%.1f ms (target <= 1.5x and < 100 ms)\n",
            rounds, mbc, moc, moc / mbc, moc - mbc);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "login_latency: %s\n", e.what());
        return 1;
    }
    return 0;
}
