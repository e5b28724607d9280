#include "fs/write_behind.hpp"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>

#include "fs/fs.hpp"

namespace pershome::fs {

namespace {

// Enough to keep the writer busy while the worker writes the previous
// requests out; each holds one request (max_write, op_init.cpp).
constexpr std::size_t kPipes = 4;
constexpr std::size_t kPipeBytes = 1u << 20;
// A write this large comes from a large write(2) (max_write is 512 KiB).
constexpr std::size_t kStreamBytes = 256u << 10;

}  // namespace

bool WriteBehind::make_pipe(Pipe& p) const {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return false;
    p.r.reset(fds[0]);
    p.w.reset(fds[1]);
    return fcntl(p.w.get(), F_SETPIPE_SZ, static_cast<int>(pipe_cap_)) >= 0;
}

void WriteBehind::empty_pipe(Pipe& p) {
    char scratch[4096];
    while (read(p.r.get(), scratch, sizeof scratch) > 0) {
    }
}

WriteBehind::WriteBehind(BackingAllocLock& alloc, std::function<void(fuse_ino_t)> landed)
    : alloc_(alloc), landed_(std::move(landed)), pipe_cap_(kPipeBytes) {
    // Without large pipes (pipe-max-size below 1 MiB) nothing is taken and
    // every write goes straight to the backing as before.
    for (std::size_t i = 0; i < kPipes; ++i) {
        Pipe p;
        if (!make_pipe(p)) break;
        pipes_.push_back(std::move(p));
        free_pipes_.push_back(i);
    }
    if (pipes_.size() < kPipes) {
        pipes_.clear();
        free_pipes_.clear();
        pipe_cap_ = 0;
        return;
    }
    worker_ = std::thread([this] { run(); });
}

WriteBehind::~WriteBehind() {
    {
        std::lock_guard l(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    if (worker_.joinable()) worker_.join();
}

std::size_t WriteBehind::submit(fuse_ino_t ino, int fd, int src, std::size_t size, off_t off) {
    // A request's data may sit in the pipe as partial pages: one slot each.
    if (pipe_cap_ == 0 || size == 0 || size + 2 * 4096 > pipe_cap_) return 0;
    struct statvfs sv {};
    if (fstatvfs(fd, &sv) != 0) return 0;
    const std::uint64_t room = static_cast<std::uint64_t>(sv.f_bavail) * sv.f_frsize;
    std::unique_lock l(mu_);
    if (room < queued_bytes_ + size + kFreeMargin) return 0;
    cv_.wait(l, [this] { return !free_pipes_.empty() || stop_; });
    if (stop_) return 0;
    const std::size_t pi = free_pipes_.back();
    free_pipes_.pop_back();
    l.unlock();

    // Pipe to pipe moves page references; nothing is copied here.
    std::size_t moved = 0;
    while (moved < size) {
        const ssize_t n = splice(src, nullptr, pipes_[pi].w.get(), nullptr, size - moved,
                                 SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        moved += static_cast<std::size_t>(n);
    }
    l.lock();
    if (moved == 0) {
        free_pipes_.push_back(pi);
        l.unlock();
        cv_.notify_all();
        return 0;
    }
    queue_.push_back(Item{ino, fd, off, moved, pi});
    queued_bytes_ += moved;
    InoState& s = inos_[ino];
    ++s.queued;
    s.end = std::max<std::uint64_t>(s.end, static_cast<std::uint64_t>(off) + moved);
    l.unlock();
    cv_.notify_all();
    return moved;
}

int WriteBehind::write_out(const Item& it) {
    std::shared_lock alloc(alloc_);  // see BackingAllocLock
    off_t off = it.off;
    std::size_t left = it.size;
    while (left > 0) {
        const ssize_t n =
            splice(pipes_[it.pipe].r.get(), nullptr, it.fd, &off, left, SPLICE_F_MOVE);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno;
        if (n == 0) return EIO;
        left -= static_cast<std::size_t>(n);
    }
    // A stream of large writes (a copy onto the stick) starts going to the
    // device as it lands, as udisks' `flush` mount of sticks does: fsync,
    // unmount and a pull then find little unwritten. Smaller writes (a
    // database's pages, rewritten often) stay in the page cache to merge.
    if (it.size >= kStreamBytes)
        (void)sync_file_range(it.fd, it.off, static_cast<off_t>(it.size), SYNC_FILE_RANGE_WRITE);
    return 0;
}

void WriteBehind::run() {
    std::unique_lock l(mu_);
    while (true) {
        cv_.wait(l, [this] { return !queue_.empty() || stop_; });
        if (queue_.empty()) return;  // stop_, and everything is written
        const Item it = queue_.front();
        queue_.pop_front();
        l.unlock();
        const int err = write_out(it);
        // Data a failed write left in the pipe must not precede the next
        // request's.
        if (err != 0) empty_pipe(pipes_[it.pipe]);
        // Stamp mtime after the data: the index's mtime is then never older
        // than the backing's (reconcile reads an older one as an edit made
        // on another computer).
        if (err == 0) landed_(it.ino);
        l.lock();
        free_pipes_.push_back(it.pipe);
        queued_bytes_ -= it.size;
        if (err != 0) errors_.try_emplace(it.ino, err);
        auto s = inos_.find(it.ino);
        if (s != inos_.end() && --s->second.queued == 0) inos_.erase(s);
        cv_.notify_all();
    }
}

void WriteBehind::drain(fuse_ino_t ino) {
    std::unique_lock l(mu_);
    cv_.wait(l, [&] { return !inos_.contains(ino); });
}

void WriteBehind::drain_all() {
    std::unique_lock l(mu_);
    cv_.wait(l, [&] { return inos_.empty(); });
}

std::uint64_t WriteBehind::pending_end(fuse_ino_t ino) const {
    std::lock_guard l(mu_);
    auto s = inos_.find(ino);
    return s == inos_.end() ? 0 : s->second.end;
}

int WriteBehind::take_error(fuse_ino_t ino) {
    std::lock_guard l(mu_);
    auto e = errors_.find(ino);
    if (e == errors_.end()) return 0;
    const int err = e->second;
    errors_.erase(e);
    return err;
}

std::vector<std::pair<fuse_ino_t, int>> WriteBehind::take_errors() {
    std::lock_guard l(mu_);
    std::vector<std::pair<fuse_ino_t, int>> all(errors_.begin(), errors_.end());
    errors_.clear();
    return all;
}

}  // namespace pershome::fs
