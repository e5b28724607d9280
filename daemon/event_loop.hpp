// The daemon's single event loop: poll(2) over the bus fd, a signalfd, an
// eventfd that worker threads use to hand results back, and any number of
// watched fds (session reference FIFOs, later the udev monitor). Everything
// that touches D-Bus or session state runs on this thread; nothing here blocks.
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <vector>

#include "common/unique_fd.hpp"

namespace pershome {

class EventLoop {
  public:
    using FdHandler = std::function<void(short revents)>;

    EventLoop();

    // Watch FD for EVENTS; the handler runs on the loop thread. The fd stays
    // owned by the caller; unwatch before closing it.
    void watch(int fd, short events, FdHandler handler);
    void unwatch(int fd);

    // Thread-safe: queue TASK to run on the loop thread.
    void post(std::function<void()> task);

    // Runs FN once on the loop thread after DELAY (CLOCK_MONOTONIC). Returns
    // an id for cancel_timer. Timers only shorten poll's timeout: an idle
    // daemon with no timer never wakes up.
    uint64_t add_timer(std::chrono::milliseconds delay, std::function<void()> fn);
    void cancel_timer(uint64_t id);

    // SIGTERM/SIGINT end run(); the handler decides nothing else.
    void set_signal_handler(std::function<void(int signo)> handler);

    // A source whose poll data changes every iteration (the sd-bus connection).
    struct DynamicSource {
        std::function<void(int& fd, short& events, int& timeout_ms)> prepare;
        std::function<void()> dispatch;
    };
    void set_dynamic_source(DynamicSource source);

    void run();
    void quit() { running_ = false; }

  private:
    void drain_posted();
    // Fires due timers; returns the poll timeout (ms) until the next, or -1.
    int run_timers();

    UniqueFd wake_fd_;
    UniqueFd signal_fd_;
    std::function<void(int)> signal_handler_;
    std::map<int, std::pair<short, FdHandler>> watched_;
    std::mutex posted_mutex_;
    std::vector<std::function<void()>> posted_;
    DynamicSource dynamic_;
    using TimePoint = std::chrono::steady_clock::time_point;
    std::multimap<TimePoint, std::pair<uint64_t, std::function<void()>>> timers_;
    uint64_t next_timer_id_ = 1;
    bool running_ = false;
};

}  // namespace pershome
