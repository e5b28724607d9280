// Slow, privileged file work (copying skel, removing a tree) runs here, off
// the event loop; each job's completion is handed back to the loop thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace pershome {

class EventLoop;

class WorkerPool {
  public:
    WorkerPool(EventLoop& loop, unsigned threads);
    ~WorkerPool();
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    // JOB runs on a worker thread; DONE then runs on the loop thread.
    void submit(std::function<void()> job, std::function<void()> done);

  private:
    void run();

    EventLoop& loop_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<std::pair<std::function<void()>, std::function<void()>>> queue_;
    bool stopping_ = false;
    std::vector<std::jthread> threads_;
};

}  // namespace pershome
