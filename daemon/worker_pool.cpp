#include "daemon/worker_pool.hpp"

#include "daemon/event_loop.hpp"
#include "daemon/log.hpp"

namespace pershome {

WorkerPool::WorkerPool(EventLoop& loop, unsigned threads) : loop_(loop) {
    for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

WorkerPool::~WorkerPool() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    cv_.notify_all();
    threads_.clear();  // joins
}

void WorkerPool::submit(std::function<void()> job, std::function<void()> done) {
    {
        std::lock_guard lock(mutex_);
        queue_.emplace_back(std::move(job), std::move(done));
    }
    cv_.notify_one();
}

void WorkerPool::run() {
    for (;;) {
        std::pair<std::function<void()>, std::function<void()>> item;
        {
            std::unique_lock lock(mutex_);
            cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            // Pending jobs are dropped at shutdown: their state is in the
            // state dir and the next start finishes them.
            if (stopping_) return;
            item = std::move(queue_.front());
            queue_.pop_front();
        }
        try {
            item.first();
        } catch (const std::exception& e) {
            log::error("worker job failed: {}", e.what());
        } catch (...) {
            log::error("worker job failed: unknown exception");
        }
        loop_.post(std::move(item.second));
    }
}

}  // namespace pershome
