// Replays a dm-log-writes log onto a copy of the device it recorded, one
// crash point at a time, for tests that check a file system at every state a
// power cut or a pulled stick could leave (as xfstests' replay-log does).
//
// The log format (Linux drivers/md/dm-log-writes.c, log-writes.rst): block 0
// holds the super (magic, version, nr_entries, sectorsize, little-endian);
// from block 1 on, each entry is one block starting with its header (sector,
// nr_sectors, flags, data_len), a mark's name after the header in the same
// block, then, unless it is a discard, nr_sectors blocks of the data written.
// Sectors and block counts are in units of the super's sectorsize.
//
// Writes reach the log in the order they completed and only once a flush
// (or FUA) made them durable, so the states after each FLUSH or FUA entry
// are the states a crash can leave; marks are where the workload said what
// it has made durable.
//
//   log_replay step LOG DEVICE STATE
//     applies the entries after the position saved in STATE (the start
//     when STATE does not exist) up to and including the next FLUSH, FUA
//     or MARK entry, fsyncs DEVICE, saves the position and prints
//     "ENTRY KIND WRITES [MARK]": the entry's index, flush|fua|flush_fua|
//     mark, the number of writes and discards applied by this call, and a
//     mark's name. Exit status 0; 1 when the log has no entry left (the
//     writes after the last point are applied); 2 on an error.
//   log_replay info LOG
//     prints the super and the count of entries of each kind.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

constexpr uint64_t kMagic = 0x6a736677736872ULL;
constexpr uint64_t kVersion = 1;
constexpr uint64_t kFlush = 1 << 0;
constexpr uint64_t kFua = 1 << 1;
constexpr uint64_t kDiscard = 1 << 2;
constexpr uint64_t kMark = 1 << 3;
constexpr uint64_t kMetadata = 1 << 4;
constexpr size_t kHeaderSize = 32;

struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

[[noreturn]] void fail_errno(const std::string& what) {
    throw Error(what + ": " + std::strerror(errno));
}

// The on-disk integers are little-endian whatever the machine.
uint64_t le64(const unsigned char* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}
uint32_t le32(const unsigned char* p) {
    return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
           static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

class Fd {
  public:
    Fd(const std::string& path, int flags) : fd_(::open(path.c_str(), flags | O_CLOEXEC)) {
        if (fd_ < 0) fail_errno("open " + path);
    }
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }

  private:
    int fd_;
};

void read_at(const Fd& fd, void* buf, size_t len, uint64_t off, const char* what) {
    auto* p = static_cast<char*>(buf);
    while (len > 0) {
        ssize_t n = ::pread(fd.get(), p, len, static_cast<off_t>(off));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail_errno(std::string("read ") + what);
        if (n == 0) throw Error(std::string("log ends inside ") + what);
        p += n;
        len -= static_cast<size_t>(n);
        off += static_cast<uint64_t>(n);
    }
}

void write_at(const Fd& fd, const void* buf, size_t len, uint64_t off) {
    const auto* p = static_cast<const char*>(buf);
    while (len > 0) {
        ssize_t n = ::pwrite(fd.get(), p, len, static_cast<off_t>(off));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail_errno("write to the device");
        p += n;
        len -= static_cast<size_t>(n);
        off += static_cast<uint64_t>(n);
    }
}

struct Super {
    uint64_t nr_entries = 0;
    uint32_t sectorsize = 0;
};

Super read_super(const Fd& log) {
    unsigned char b[28];
    read_at(log, b, sizeof b, 0, "the super block");
    if (le64(b) != kMagic) throw Error("not a dm-log-writes log (bad magic)");
    if (le64(b + 8) != kVersion) throw Error("log version " + std::to_string(le64(b + 8)));
    Super s{le64(b + 16), le32(b + 24)};
    if (s.sectorsize < 512 || s.sectorsize > 65536 || (s.sectorsize & (s.sectorsize - 1))) {
        throw Error("bad sector size " + std::to_string(s.sectorsize));
    }
    return s;
}

struct Entry {
    uint64_t sector = 0, nr_sectors = 0, flags = 0, data_len = 0;
    std::string mark;
};

// Reads the entry at byte OFF; returns the offset of the next one.
uint64_t read_entry(const Fd& log, const Super& s, uint64_t off, Entry& e) {
    std::vector<unsigned char> block(s.sectorsize);
    read_at(log, block.data(), block.size(), off, "an entry");
    e.sector = le64(&block[0]);
    e.nr_sectors = le64(&block[8]);
    e.flags = le64(&block[16]);
    e.data_len = le64(&block[24]);
    e.mark.clear();
    if (e.flags & kMark) {
        if (e.data_len > s.sectorsize - kHeaderSize) throw Error("mark longer than its block");
        e.mark.assign(reinterpret_cast<const char*>(&block[kHeaderSize]), e.data_len);
    } else if (e.data_len != 0) {
        // Only DAX writes log inline data; a block device log never has it.
        throw Error("entry with inline data (a DAX log): not supported");
    }
    off += s.sectorsize;
    if (!(e.flags & kDiscard)) off += e.nr_sectors * s.sectorsize;
    return off;
}

// Applies E's data (read from the log at DATA_OFF) to DEV.
void apply(const Fd& log, const Fd& dev, const Super& s, const Entry& e, uint64_t data_off) {
    if (e.nr_sectors == 0) return;
    const uint64_t bytes = e.nr_sectors * s.sectorsize;
    const uint64_t dest = e.sector * s.sectorsize;
    // A discard is replayed as zeros: what a stick reading discarded
    // blocks as zeros shows, and the most a file system may expect.
    std::vector<char> buf(std::min<uint64_t>(bytes, 1 << 20));
    for (uint64_t done = 0; done < bytes;) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), bytes - done));
        if (e.flags & kDiscard) {
            std::fill(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(n), 0);
        } else {
            read_at(log, buf.data(), n, data_off + done, "an entry's data");
        }
        write_at(dev, buf.data(), n, dest + done);
        done += n;
    }
}

struct Position {
    uint64_t entry = 0;
    uint64_t offset = 0;  // 0: the start
};

Position load(const std::string& path) {
    Position p;
    std::ifstream in(path);
    if (in && !(in >> p.entry >> p.offset)) throw Error("unreadable state file " + path);
    return p;
}

void save(const std::string& path, const Position& p) {
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << p.entry << " " << p.offset << "\n";
        if (!out.flush()) throw Error("cannot write " + tmp);
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) fail_errno("rename " + tmp);
}

std::string kind(uint64_t flags) {
    if (flags & kMark) return "mark";
    if ((flags & kFlush) && (flags & kFua)) return "flush_fua";
    return (flags & kFlush) ? "flush" : "fua";
}

int step(const std::string& log_path, const std::string& dev_path, const std::string& state) {
    Fd log(log_path, O_RDONLY);
    Fd dev(dev_path, O_RDWR);
    const Super s = read_super(log);
    Position p = load(state);
    if (p.offset == 0) p.offset = s.sectorsize;
    long writes = 0;
    Entry e;
    while (p.entry < s.nr_entries) {
        const uint64_t next = read_entry(log, s, p.offset, e);
        apply(log, dev, s, e, p.offset + s.sectorsize);
        if (e.nr_sectors != 0) ++writes;
        const uint64_t index = p.entry;
        p = {p.entry + 1, next};
        if (e.flags & (kFlush | kFua | kMark)) {
            if (::fsync(dev.get()) != 0) fail_errno("fsync " + dev_path);
            save(state, p);
            std::printf("%llu %s %ld%s%s\n", static_cast<unsigned long long>(index),
                        kind(e.flags).c_str(), writes, e.mark.empty() ? "" : " ", e.mark.c_str());
            return 0;
        }
    }
    if (::fsync(dev.get()) != 0) fail_errno("fsync " + dev_path);
    save(state, p);
    return 1;
}

int info(const std::string& log_path) {
    Fd log(log_path, O_RDONLY);
    const Super s = read_super(log);
    uint64_t off = s.sectorsize;
    long flush = 0, fua = 0, discard = 0, mark = 0, metadata = 0, writes = 0;
    Entry e;
    for (uint64_t i = 0; i < s.nr_entries; ++i) {
        off = read_entry(log, s, off, e);
        flush += (e.flags & kFlush) != 0;
        fua += (e.flags & kFua) != 0;
        discard += (e.flags & kDiscard) != 0;
        metadata += (e.flags & kMetadata) != 0;
        writes += e.nr_sectors != 0 && !(e.flags & kDiscard);
        if (e.flags & kMark) {
            ++mark;
            std::printf("mark %llu %s\n", static_cast<unsigned long long>(i), e.mark.c_str());
        }
    }
    std::printf(
        "entries %llu sectorsize %u writes %ld flush %ld fua %ld discard %ld mark %ld "
        "metadata %ld log_bytes %llu\n",
        static_cast<unsigned long long>(s.nr_entries), s.sectorsize, writes, flush, fua, discard,
        mark, metadata, static_cast<unsigned long long>(off));
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    try {
        if (args.size() == 4 && args[0] == "step") return step(args[1], args[2], args[3]);
        if (args.size() == 2 && args[0] == "info") return info(args[1]);
    } catch (const Error& e) {
        std::fprintf(stderr, "log_replay: %s\n", e.what());
        return 2;
    }
    std::fprintf(stderr,
                 "usage: log_replay step LOG DEVICE STATE\n"
                 "       log_replay info LOG\n");
    return 2;
}
