#include "daemon/event_loop.hpp"

#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <system_error>

#include "daemon/log.hpp"

namespace pershome {
namespace {

// A callback that throws is a bug in one operation; the daemon holds every
// other user's home and must stay up. The error is logged, the loop goes on.
template <typename F>
void guarded(const char* what, F&& fn) {
    try {
        fn();
    } catch (const std::exception& e) {
        log::error("internal error in {} (the daemon goes on): {}", what, e.what());
    } catch (...) {
        log::error("internal error in {} (the daemon goes on): unknown exception", what);
    }
}

}  // namespace

EventLoop::EventLoop() {
    wake_fd_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!wake_fd_) throw std::system_error(errno, std::generic_category(), "eventfd");
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    // Blocked in every thread (workers are started after this) so only the
    // signalfd sees them.
    pthread_sigmask(SIG_BLOCK, &mask, nullptr);
    signal_fd_.reset(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signal_fd_) throw std::system_error(errno, std::generic_category(), "signalfd");
}

void EventLoop::watch(int fd, short events, FdHandler handler) {
    watched_[fd] = {events, std::move(handler)};
}

void EventLoop::unwatch(int fd) {
    watched_.erase(fd);
}

void EventLoop::post(std::function<void()> task) {
    {
        std::lock_guard lock(posted_mutex_);
        posted_.push_back(std::move(task));
    }
    uint64_t one = 1;
    ssize_t ignored = ::write(wake_fd_.get(), &one, sizeof one);
    (void)ignored;
}

uint64_t EventLoop::add_timer(std::chrono::milliseconds delay, std::function<void()> fn) {
    const uint64_t id = next_timer_id_++;
    timers_.emplace(std::chrono::steady_clock::now() + delay, std::make_pair(id, std::move(fn)));
    return id;
}

void EventLoop::cancel_timer(uint64_t id) {
    for (auto it = timers_.begin(); it != timers_.end(); ++it) {
        if (it->second.first == id) {
            timers_.erase(it);
            return;
        }
    }
}

int EventLoop::run_timers() {
    for (;;) {
        if (timers_.empty()) return -1;
        auto first = timers_.begin();
        const auto now = std::chrono::steady_clock::now();
        if (first->first > now) {
            auto ms = std::chrono::ceil<std::chrono::milliseconds>(first->first - now).count();
            return static_cast<int>(std::min<long long>(ms, 24 * 3600 * 1000));
        }
        // Out of the map before it runs: it may add or cancel timers.
        auto fn = std::move(first->second.second);
        timers_.erase(first);
        guarded("a timer", fn);
    }
}

void EventLoop::set_signal_handler(std::function<void(int)> handler) {
    signal_handler_ = std::move(handler);
}

void EventLoop::set_dynamic_source(DynamicSource source) {
    dynamic_ = std::move(source);
}

void EventLoop::drain_posted() {
    uint64_t count;
    while (::read(wake_fd_.get(), &count, sizeof count) > 0) {
    }
    std::vector<std::function<void()>> tasks;
    {
        std::lock_guard lock(posted_mutex_);
        tasks.swap(posted_);
    }
    for (auto& task : tasks) guarded("a posted task", task);
}

void EventLoop::run() {
    running_ = true;
    std::vector<pollfd> fds;
    std::vector<int> order;
    while (running_) {
        fds.clear();
        order.clear();
        int dyn_fd = -1;
        short dyn_events = 0;
        int timeout_ms = -1;
        // Timers first: what they do (a bus signal, say) changes what sd-bus
        // wants to poll for.
        const int timer_ms = run_timers();
        if (!running_) break;
        if (dynamic_.prepare) dynamic_.prepare(dyn_fd, dyn_events, timeout_ms);
        if (timer_ms >= 0 && (timeout_ms < 0 || timer_ms < timeout_ms)) timeout_ms = timer_ms;
        fds.push_back({wake_fd_.get(), POLLIN, 0});
        fds.push_back({signal_fd_.get(), POLLIN, 0});
        if (dyn_fd >= 0) fds.push_back({dyn_fd, dyn_events, 0});
        const size_t fixed = fds.size();
        for (const auto& [fd, entry] : watched_) {
            fds.push_back({fd, entry.first, 0});
            order.push_back(fd);
        }
        int n = ::poll(fds.data(), fds.size(), timeout_ms);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw std::system_error(errno, std::generic_category(), "poll");
        }
        if (fds[1].revents & POLLIN) {
            signalfd_siginfo si{};
            while (::read(signal_fd_.get(), &si, sizeof si) == sizeof si) {
                if (signal_handler_)
                    guarded("the signal handler",
                            [&] { signal_handler_(static_cast<int>(si.ssi_signo)); });
            }
        }
        if (fds[0].revents & POLLIN) drain_posted();
        // sd-bus also has work when only its timeout expired, so dispatch every
        // round; it returns at once when there is nothing to do.
        if (dynamic_.dispatch) guarded("the bus dispatch", dynamic_.dispatch);
        for (size_t i = fixed; i < fds.size(); ++i) {
            if (fds[i].revents == 0) continue;
            // A handler may unwatch others (or itself): look up afresh.
            auto it = watched_.find(order[i - fixed]);
            if (it == watched_.end()) continue;
            auto handler = it->second.second;
            const short revents = fds[i].revents;
            guarded("an fd handler", [&] { handler(revents); });
            // A closed fd would be reported again at once, forever: a handler
            // that did not unwatch it has it unwatched here.
            if ((revents & POLLNVAL) && watched_.erase(order[i - fixed]))
                log::error("fd {} was closed while watched; no longer watched", order[i - fixed]);
        }
    }
}

}  // namespace pershome
