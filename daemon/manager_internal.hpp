// What manager.cpp, manager_persistent.cpp and manager_devices.cpp share:
// the parts of one Manager, split by subject.
#pragma once

#include <time.h>

#include <chrono>
#include <cstdint>

#include "daemon/manager.hpp"

namespace pershome {

// A login waiting for its stick: kept across the timer rounds of find_stick.
struct Manager::PendingLogin {
    OpenRequest request;
    OpenDone done;
    Next next;
    UserInfo user;
    config::HomeOptions options;
    std::chrono::steady_clock::time_point settle_deadline;
    // When the login stops waiting (its timeout=, less a margin for the
    // answer's way back), or none.
    std::optional<std::chrono::steady_clock::time_point> login_deadline;
};

inline uint64_t now_usec() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

}  // namespace pershome
