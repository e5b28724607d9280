// libFuzzer target: the whole load of a directory from a hostile stick
// (load_dir, as a mount does): its index file, its backing listing, the
// alias search for entries whose backing name is missing, and the link
// pool's own index and listing that decide which hard links live. The
// index files may be large: an input either carries them raw, or names a
// crafted shape (tests/fs/hostile_index.hpp) of up to 2 MiB and patches
// bytes of it.
//
// Input: byte 0 even: raw; parts split at "@@@@": the directory's index,
// its listing (names split at '\n', a leading '/' makes a directory), the
// pool's index, the pool's listing. Byte 0 odd: byte 1 picks the shape,
// byte 2 the size in 64 KiB units (see parse_input), byte 3 the listing's
// length; then
// (u32 offset, u8 xor) patches.
//
// Properties (any violation aborts):
// * findings stay bounded (kMaxProblems and its one extra line);
// * what the load shows is sane: valid names and types, no mode bits past
//   0777, backing names unique and each one a backing object of the
//   entry's kind, the subdirectory count right;
// * every backing object is shown (claimed by an entry, or hidden behind
//   an entry of its name, which is reported), unless a hard link's
//   leftover may hold it;
// * the index written for what was loaded loads back as the same entries.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "fs/dir_state.hpp"
#include "fs/name_codec.hpp"
#include "tests/fs/hostile_index.hpp"
#include "tests/fuzz/fuzz_check.hpp"

using namespace pershome;
using namespace pershome::fs;

namespace {

namespace stdfs = std::filesystem;

struct Case {
    std::string index, pool_index;
    std::vector<std::string> listing, pool_listing;  // a leading '/': a directory
};

std::vector<std::string> split(std::string_view s, std::string_view sep) {
    std::vector<std::string> out;
    for (std::size_t at = 0;;) {
        const std::size_t next = s.find(sep, at);
        out.emplace_back(s.substr(at, next == std::string_view::npos ? next : next - at));
        if (next == std::string_view::npos) return out;
        at = next + sep.size();
    }
}

Case parse_input(std::string_view in) {
    Case c;
    if (in.empty()) return c;
    if ((in[0] & 1) == 0) {
        auto parts = split(in.substr(1), "@@@@");
        parts.resize(4);
        c.index = parts[0];
        c.listing = split(parts[1], "\n");
        c.pool_index = parts[2];
        c.pool_listing = split(parts[3], "\n");
        return c;
    }
    if (in.size() < 4) return c;
    const auto& shapes = test::hostile_shapes();
    const auto& shape = shapes[static_cast<unsigned char>(in[1]) % shapes.size()];
    // Mostly up to 256 KiB, so that fuzzing keeps its pace; byte values
    // from 224 take 64 KiB to 2 MiB in steps of 64 KiB. (Linear time at the
    // format's cap is the hostile-load test's; 4 MiB of aliases took 6 s a
    // run here, past the target's timeout with three targets on two cores.)
    const auto b = static_cast<std::size_t>(static_cast<unsigned char>(in[2]));
    const std::size_t units = b < 224 ? 1 + b % 4 : 1 + (b - 224);
    c.index = test::hostile_index(shape.shape, units << 16);
    c.listing = test::hostile_listing(static_cast<unsigned char>(in[3]));
    for (std::size_t at = 4; at + 5 <= in.size(); at += 5) {
        std::uint32_t off = 0;
        std::memcpy(&off, in.data() + at, 4);
        c.index[off % c.index.size()] ^= in[at + 4];
    }
    return c;
}

// Makes `dir` hold exactly `listing` (names a backing cannot hold skipped)
// and `index` as its PERSHOME.IDX (none when empty).
void populate(const std::string& dir, const std::vector<std::string>& listing,
              const std::string& index) {
    for (const auto& e : stdfs::directory_iterator(dir)) stdfs::remove_all(e.path());
    std::size_t made = 0;
    for (std::string name : listing) {
        const bool is_dir = !name.empty() && name[0] == '/';
        if (is_dir) name.erase(0, 1);
        if (!is_valid_posix_name(name) || name.size() > 255 || ++made > 300) continue;
        const std::string p = dir + "/" + name;
        if (is_dir)
            (void)mkdir(p.c_str(), 0755);
        else
            UniqueFd(open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    }
    if (index.empty()) return;
    std::ofstream(dir + "/" + std::string(kIndexFileName), std::ios::binary | std::ios::trunc)
        .write(index.data(), static_cast<std::streamsize>(index.size()));
}

// What a directory shows: its backing names and kinds on disk.
std::vector<std::pair<std::string, bool>> listing_of(const std::string& dir) {
    std::vector<std::pair<std::string, bool>> out;
    for (const auto& e : stdfs::directory_iterator(dir)) {
        const std::string n = e.path().filename();
        if (!is_reserved_backing_name(n)) out.emplace_back(n, e.is_directory());
    }
    return out;
}

std::string link_name(std::uint64_t id) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(id));
    return buf;
}

// `lazy`: as a mount loads (backing times at first use, see
// ReconcileOptions::lazy_times); --check's eager load otherwise.
DirState load(const std::string& dir, const DirState* pool, std::vector<std::string>* problems,
              std::vector<std::string>* catch_up, bool lazy = false) {
    ReconcileOptions ro;
    ro.lazy_times = lazy;
    ro.pool = pool == nullptr;  // (the first load is the pool's)
    if (pool)
        ro.link_group = [pool](std::uint64_t id) {
            using G = ReconcileOptions::LinkGroup;
            const auto it = pool->entries.find(link_name(id));
            return it == pool->entries.end() ? G::Missing
                   : it->second.at_path      ? G::AtPath
                                             : G::InPool;
        };
    return load_dir(UniqueFd(open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)), ro, problems,
                    catch_up);
}

void check_sane(const std::string& dir, const DirState& d) {
    std::size_t reals = 0, dirs = 0;
    bool linked = false;
    for (const auto& [name, e] : d.entries) {
        CHECK(name == e.name && is_valid_posix_name(name) && name.size() <= 255);
        CHECK(e.mode <= 0777);
        CHECK(static_cast<int>(e.type) >= 1 && static_cast<int>(e.type) <= 5);
        if (e.type == NodeType::Dir) ++dirs;
        linked = linked || e.linked();
        if (e.at_path) {  // the pool's: a path from the backing root, looked at later
            CHECK(is_valid_data_path(e.real) &&
                  (e.real_prev.empty() || is_valid_data_path(e.real_prev)));
            CHECK(d.claimed.count(e.real));
            ++reals;
            continue;
        }
        if (e.real.empty()) continue;
        ++reals;
        CHECK(d.claimed.count(e.real));
        struct stat st {};
        CHECK(fstatat(d.fd.get(), e.real.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0);
        CHECK(S_ISDIR(st.st_mode) == (e.type == NodeType::Dir));
    }
    CHECK(d.claimed.size() == reals);
    CHECK(d.subdirs == dirs);
    // (A pool file an AT_PATH entry names, on its way in, is not listed.)
    std::set<std::string> arriving;
    for (const auto& [name, e] : d.entries)
        for (const std::string* p : {&e.real, &e.real_prev})
            if (e.at_path && p->starts_with(std::string(kLinkPoolName) + '/'))
                arriving.insert(p->substr(kLinkPoolName.size() + 1));
    for (const auto& [name, is_dir] : listing_of(dir))
        CHECK(d.claimed.count(name) || d.entries.count(name) || linked || arriving.count(name));
}

void check_bounded(const std::vector<std::string>& v) {
    CHECK(v.size() <= kMaxProblems + 1);
}

// The scratch directory: pershome-fuzz-load.PID on tmpfs where there is one
// (the write-back fsyncs), else in /tmp. libFuzzer ends a timed run with
// _Exit, past the atexit handler that removes it, so each run first removes
// those of runs whose process is gone.
std::string scratch_dir() {
    const std::string root = stdfs::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    const std::string prefix = "pershome-fuzz-load.";
    std::error_code ec;
    for (const auto& e : stdfs::directory_iterator(root, ec)) {
        const std::string n = e.path().filename();
        if (n.rfind(prefix, 0) != 0) continue;
        const long pid = std::strtol(n.c_str() + prefix.size(), nullptr, 10);
        if (pid > 0 && kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)
            stdfs::remove_all(e.path(), ec);
    }
    static std::string b;
    b = root + "/" + prefix + std::to_string(getpid());
    stdfs::remove_all(b, ec);
    if (!stdfs::create_directories(b + "/dir") || !stdfs::create_directories(b + "/pool"))
        std::abort();
    std::atexit([] {
        std::error_code ignored;
        stdfs::remove_all(b, ignored);
    });
    return b;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const std::string base = scratch_dir();
    const Case c = parse_input({reinterpret_cast<const char*>(data), size});
    const std::string dir = base + "/dir", pool_dir = base + "/pool";
    populate(dir, c.listing, c.index);
    populate(pool_dir, c.pool_listing, c.pool_index);

    std::vector<std::string> problems, catch_up;
    const DirState pool = load(pool_dir, nullptr, &problems, &catch_up);
    check_bounded(problems);
    check_bounded(catch_up);
    check_sane(pool_dir, pool);
    problems.clear();
    catch_up.clear();
    // The two kinds of load, by the input's length: a lazy one (a mount's)
    // settles each entry before the write, as the mount does.
    const bool lazy = size % 2 == 1;
    DirState d = load(dir, &pool, &problems, &catch_up, lazy);
    check_bounded(problems);
    check_bounded(catch_up);
    check_sane(dir, d);
    for (auto& [name, e] : d.entries) {
        struct stat st {};
        if (e.unsettled != Entry::Unsettled::No && !e.real.empty() &&
            fstatat(d.fd.get(), e.real.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0)
            (void)settle_entry(e, st);  // (whether it was edited elsewhere: not checked here)
    }

    // Written back and loaded again: the same entries.
    if (write_index(d, nullptr) != 0) return 0;
    const DirState again = load(dir, &pool, nullptr, nullptr);
    check_sane(dir, again);
    CHECK(again.entries.size() == d.entries.size());
    for (const auto& [name, e] : d.entries) {
        const auto it = again.entries.find(name);
        CHECK(it != again.entries.end());
        CHECK(it->second.real == e.real && it->second.type == e.type && it->second.mode == e.mode &&
              it->second.link_id == e.link_id);
    }
    return 0;
}
