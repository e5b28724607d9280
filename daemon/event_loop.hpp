// The daemon's single event loop: poll(2) over the bus fd, a signalfd, an
// eventfd that worker threads use to hand results back, and any number of
// watched fds (session reference FIFOs, later the udev monitor). Everything
// that touches D-Bus or session state runs on this thread; nothing here blocks.
#pragma once

#include <poll.h>
#include <sys/types.h>

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

    UniqueFd wake_fd_;
    UniqueFd signal_fd_;
    std::function<void(int)> signal_handler_;
    std::map<int, std::pair<short, FdHandler>> watched_;
    std::mutex posted_mutex_;
    std::vector<std::function<void()>> posted_;
    DynamicSource dynamic_;
    bool running_ = false;
};

}  // namespace pershome
