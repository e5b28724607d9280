#include "fs/write_behind.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
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
    return fcntl(p.w.get(), F_SETPIPE_SZ, static_cast<int>(kPipeBytes)) >= 0;
}

void WriteBehind::empty_pipe(Pipe& p) {
    char scratch[4096];
    while (read(p.r.get(), scratch, sizeof scratch) > 0) {
    }
}

WriteBehind::WriteBehind(BackingAllocLock& alloc, std::function<void(fuse_ino_t)> landed)
    : alloc_(alloc), landed_(std::move(landed)) {}

void WriteBehind::start() {
    std::lock_guard l(mu_);
    if (worker_.joinable()) return;
    // Without large pipes (pipe-max-size below 1 MiB) nothing is taken and
    // every write goes straight to the backing.
    for (std::size_t i = 0; i < kPipes; ++i) {
        Pipe p;
        if (!make_pipe(p)) return;
        pipes_.push_back(std::move(p));
    }
    for (std::size_t i = 0; i < kPipes; ++i) free_pipes_.push_back(i);
    started_ = true;
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
    {
        std::lock_guard l(mu_);
        // A request's data may sit in the pipe as partial pages: one slot each.
        if (!started_ || size == 0 || size + 2 * 4096 > kPipeBytes) return 0;
    }
    struct statvfs sv {};
    struct stat st {};
    if (fstatvfs(fd, &sv) != 0 || fstat(fd, &st) != 0) return 0;
    const std::uint64_t room = static_cast<std::uint64_t>(sv.f_bavail) * sv.f_frsize;
    std::unique_lock l(mu_);
    // FAT has no holes: a write past the end makes it store zeros up to it.
    std::uint64_t end = static_cast<std::uint64_t>(std::max<off_t>(st.st_size, 0));
    if (auto s = inos_.find(ino); s != inos_.end()) end = std::max(end, s->second.end);
    const std::uint64_t gap =
        static_cast<std::uint64_t>(off) > end ? static_cast<std::uint64_t>(off) - end : 0;
    if (room < queued_bytes_ + size + gap + kFreeMargin) return 0;
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
    const std::uint64_t seq = next_seq_++;
    queue_.push_back(Item{ino, fd, off, moved, pi, seq});
    queued_bytes_ += moved;
    InoState& s = inos_[ino];
    ++s.queued;
    s.end = std::max<std::uint64_t>(s.end, static_cast<std::uint64_t>(off) + moved);
    s.last_seq = seq;
    l.unlock();
    cv_.notify_all();
    return moved;
}

int WriteBehind::write_out(const Item& it) {
    off_t off = it.off;
    std::size_t left = it.size;
    {
        std::shared_lock alloc(alloc_);  // see BackingAllocLock
        while (left > 0) {
            const ssize_t n =
                splice(pipes_[it.pipe].r.get(), nullptr, it.fd, &off, left, SPLICE_F_MOVE);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno == EINVAL) break;  // the backing takes no splice: copied below
            if (n < 0) return errno;
            if (n == 0) return EIO;
            left -= static_cast<std::size_t>(n);
        }
        if (left > 0) {
            std::vector<char> buf(left);
            std::size_t got = 0;
            while (got < left) {
                const ssize_t n = read(pipes_[it.pipe].r.get(), buf.data() + got, left - got);
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) return EIO;
                got += static_cast<std::size_t>(n);
            }
            if (int err = pwrite_all(it.fd, buf.data(), left, static_cast<std::uint64_t>(off)))
                return err;
        }
    }
    // A stream of large writes (a copy onto the stick) starts going to the
    // device as it lands, as udisks' `flush` mount of sticks does: fsync,
    // unmount and a pull then find little unwritten. Smaller writes (a
    // database's pages, rewritten often) stay in the page cache to merge.
    // Outside the allocation lock: on a busy stick this waits.
    if (it.size >= kStreamBytes)
        // (A hint to start write-back early; fsync reports real errors.)
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
        // on another computer). Before the item counts as done, so that
        // stat_node never sees the item gone and the old size or mtime.
        if (err == 0) landed_(it.ino);
        l.lock();
        free_pipes_.push_back(it.pipe);
        queued_bytes_ -= it.size;
        done_seq_ = it.seq;
        if (err != 0) {
            ErrState& e = errors_[it.ino];
            e.err = err;
            ++e.seq;
        }
        auto s = inos_.find(it.ino);
        if (s != inos_.end() && --s->second.queued == 0) inos_.erase(s);
        cv_.notify_all();
    }
}

void WriteBehind::drain(fuse_ino_t ino) {
    std::unique_lock l(mu_);
    auto s = inos_.find(ino);
    if (s == inos_.end()) return;
    // Items land in queue order, so those before this call are done once
    // done_seq_ reaches the newest of them; a writer that keeps queueing
    // does not hold this up.
    const std::uint64_t target = s->second.last_seq;
    cv_.wait(l, [&] { return done_seq_ >= target; });
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

void WriteBehind::opened(int fd, fuse_ino_t ino) {
    std::lock_guard l(mu_);
    auto e = errors_.find(ino);
    handles_[fd] = Handle{ino, e == errors_.end() ? 0 : e->second.seq};
}

int WriteBehind::take_unseen(Handle& h) {
    auto e = errors_.find(h.ino);
    if (e == errors_.end() || e->second.seq == h.seen) return 0;
    h.seen = e->second.seq;
    return e->second.err;
}

int WriteBehind::check(int fd) {
    std::lock_guard l(mu_);
    auto h = handles_.find(fd);
    return h == handles_.end() ? 0 : take_unseen(h->second);
}

int WriteBehind::closed(int fd) {
    std::lock_guard l(mu_);
    auto h = handles_.find(fd);
    if (h == handles_.end()) return 0;
    const fuse_ino_t ino = h->second.ino;
    const int err = take_unseen(h->second);
    handles_.erase(h);
    // An error nobody holds a handle to see again is forgotten. (The scan
    // of open handles only when there is one: every close comes here.)
    if (errors_.contains(ino) && std::none_of(handles_.begin(), handles_.end(),
                                              [&](const auto& kv) { return kv.second.ino == ino; }))
        errors_.erase(ino);
    return err;
}

std::vector<std::pair<fuse_ino_t, int>> WriteBehind::unseen_errors() {
    std::lock_guard l(mu_);
    std::vector<std::pair<fuse_ino_t, int>> all;
    for (auto& [fd, h] : handles_)
        if (int err = take_unseen(h)) all.emplace_back(h.ino, err);
    return all;
}

}  // namespace pershome::fs
