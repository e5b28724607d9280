#include "fs/dir_state.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/msdos_fs.h>
#include <linux/openat2.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <memory>
#include <shared_mutex>

#include "fs/name_codec.hpp"

namespace pershome::fs {

void DirState::add(Entry e) {
    if (!e.real.empty()) claimed.insert(e.real);
    if (e.type == NodeType::Dir) ++subdirs;
    bytes += index_bytes(e);
    auto it = entries.find(e.name);
    if (it == entries.end()) {
        const std::string name = e.name;
        entries.emplace(name, std::move(e));
        return;
    }
    if (it->second.type == NodeType::Dir) --subdirs;
    bytes -= index_bytes(it->second);
    it->second = std::move(e);
}

void DirState::remove(const std::string& name) {
    auto it = entries.find(name);
    if (it == entries.end()) return;
    if (!it->second.real.empty()) claimed.erase(it->second.real);
    if (it->second.type == NodeType::Dir) --subdirs;
    bytes -= index_bytes(it->second);
    entries.erase(it);
}

bool DirState::has_room_for(const Entry& e) const {
    return entries.size() < kMaxIndexEntries && bytes + index_bytes(e) <= kIndexBudget;
}

UniqueFd open_dir_beneath(int root_fd, const std::string& path) {
    open_how how{};
    how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
    const char* p = path.empty() ? "." : path.c_str();
    return UniqueFd(static_cast<int>(::syscall(SYS_openat2, root_fd, p, &how, sizeof how)));
}

std::optional<BeneathPath> open_parent_beneath(int root_fd, const std::string& path) {
    const auto slash = path.rfind('/');
    UniqueFd fd =
        open_dir_beneath(root_fd, slash == std::string::npos ? "" : path.substr(0, slash));
    if (!fd) return std::nullopt;
    return BeneathPath{std::move(fd), slash == std::string::npos ? path : path.substr(slash + 1)};
}

DataPath settle_data_path(int root_fd, Entry& e) {
    std::string found;
    bool unknown = false;
    for (const std::string* cand : {&e.real_prev, &e.real}) {
        struct stat st {};
        if (cand->empty()) continue;
        auto at = open_parent_beneath(root_fd, *cand);
        if (at && fstatat(at->dir.get(), at->name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            !S_ISDIR(st.st_mode)) {
            found = *cand;
            break;
        }
        if (errno != ENOENT && errno != ENOTDIR) unknown = true;
    }
    if (found.empty()) return unknown ? DataPath::Unknown : DataPath::Gone;
    const std::string prefix = std::string(kLinkPoolName) + '/';
    if (e.real_prev.empty() && found == e.real && !found.starts_with(prefix)) return DataPath::Same;
    e.real_prev.clear();
    e.real = found;
    if (found.starts_with(prefix)) {
        e.at_path = false;
        e.real = found.substr(prefix.size());
    }
    return DataPath::Settled;
}

Timestamp now_ts() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return {ts.tv_sec, static_cast<std::uint32_t>(ts.tv_nsec)};
}

void mark_hidden(int fd) {
    // Only FAT knows these ioctls; other backings answer ENOTTY, which is fine.
    __u32 attr = 0;
    if (ioctl(fd, FAT_IOCTL_GET_ATTRIBUTES, &attr) != 0) return;
    attr |= ATTR_HIDDEN;
    (void)ioctl(fd, FAT_IOCTL_SET_ATTRIBUTES, &attr);  // hidden is cosmetic
}

int fsync_backing(int dirfd, const std::string& name) {
    UniqueFd f(name.empty() ? openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                            : openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!f) return errno;
    return backing_fsync(f.get()) == 0 ? 0 : errno;
}

int pwrite_all(int fd, const char* data, std::size_t size, std::uint64_t off) {
    std::size_t done = 0;
    while (done < size) {
        const ssize_t n = pwrite(fd, data + done, size - done, static_cast<off_t>(off + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        if (n == 0) return EIO;
        done += static_cast<std::size_t>(n);
    }
    return 0;
}

int backing_fsync(int fd, bool datasync) {
    static std::mutex one_at_a_time;
    std::lock_guard lk(one_at_a_time);
    return datasync ? ::fdatasync(fd) : ::fsync(fd);
}

namespace {

struct BackingItem {
    bool is_dir;
    struct stat st;
    bool have_st;  // false: a lazy load knows the type only (d_type)
};

// Whether a file's backing mtime, `backing`, `indexed` being the time the
// index recorded, means another computer wrote it. FAT keeps 2 s; it also
// keeps local time, so a different time zone or a daylight-saving change
// shifts every file by a multiple of 15 minutes (within 14 h): not an edit.
// (A hostile index may hold any 64-bit time: the difference may overflow.)
bool differs_by_edit(std::int64_t backing, std::int64_t indexed) {
    std::int64_t diff = 0;
    if (__builtin_sub_overflow(backing, indexed, &diff) || diff == INT64_MIN) return true;
    const std::int64_t a = diff < 0 ? -diff : diff;
    if (a <= 2) return false;
    const std::int64_t off = a % 900;
    if (a <= 14 * 3600 + 2 && (off <= 2 || off >= 898)) return false;
    return true;
}

// What vfat keeps of a time outside FAT's range: Linux clamps it to
// 1980-01-01 00:00:00 or 2107-12-31 23:59:58 (local time; a zone offset is
// forgiven like any other).
std::int64_t fat_clamped(std::int64_t sec) {
    constexpr std::int64_t kFatFirst = 315532800;  // 1980-01-01 00:00:00 UTC
    constexpr std::int64_t kFatLast = 4354819198;  // 2107-12-31 23:59:58 UTC
    return std::clamp(sec, kFatFirst, kFatLast);
}

// Whether the backing's mtime says the file was written elsewhere since the
// index recorded `indexed`: compared as it is (backings that keep any time)
// and as FAT would have kept it.
bool edited_elsewhere(std::int64_t backing, std::int64_t indexed) {
    return differs_by_edit(backing, indexed) && differs_by_edit(backing, fat_clamped(indexed));
}

Timestamp ts_of(const timespec& t) {
    return {t.tv_sec, static_cast<std::uint32_t>(t.tv_nsec)};
}

// An index file's bytes, read without zero-filling the buffer first (up to
// 64 MiB: that would double what a large index costs to load).
struct IndexBytes {
    std::unique_ptr<char[]> data;
    std::size_t size = 0;
    std::string_view view() const { return {data.get(), size}; }
};

// The index file's bytes; nullopt when there is none. One past the cap is
// not read (empty): `*too_large` holds its size.
std::optional<IndexBytes> read_all(int dirfd, std::uint64_t* too_large) {
    UniqueFd f(
        openat(dirfd, std::string(kIndexFileName).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!f) return std::nullopt;
    struct stat st {};
    if (fstat(f.get(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
    if (static_cast<std::uint64_t>(st.st_size) > kMaxIndexFileSize) {
        *too_large = static_cast<std::uint64_t>(st.st_size);
        return IndexBytes{};
    }
    const auto want = static_cast<std::size_t>(st.st_size);
    IndexBytes b{std::make_unique_for_overwrite<char[]>(want), 0};
    while (b.size < want) {
        const ssize_t n =
            pread(f.get(), b.data.get() + b.size, want - b.size, static_cast<off_t>(b.size));
        if (n <= 0) break;
        b.size += static_cast<std::size_t>(n);
    }
    return b;
}

}  // namespace

std::uint64_t index_bytes(const Entry& e) {
    std::uint64_t n = 96 + e.name.size() + e.real.size() + e.target.size();  // fixed fields: < 96
    for (const auto& [k, v] : e.xattrs) n += 8 + k.size() + v.size();
    return n;
}

bool settle_entry(Entry& e, const struct stat& st) {
    const auto was = e.unsettled;
    e.unsettled = Entry::Unsettled::No;
    if (was == Entry::Unsettled::Times) {
        e.atime = ts_of(st.st_atim);
        e.mtime = ts_of(st.st_mtim);
        e.ctime = ts_of(st.st_ctim);
        return false;
    }
    if (was == Entry::Unsettled::Edit && edited_elsewhere(st.st_mtim.tv_sec, e.mtime.sec)) {
        e.mtime = ts_of(st.st_mtim);
        e.ctime = e.mtime;
        return true;
    }
    return false;
}

namespace {

struct Listing {
    std::map<std::string, BackingItem> items;  // by backing name
    bool listed = false;                       // the directory could be read
    bool has_index = false;                    // it holds an index file
};

Listing list_backing(int dir_fd, const ReconcileOptions& opt, std::vector<std::string>* problems) {
    Listing l;
    UniqueFd rd(openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    DIR* dir = rd ? fdopendir(rd.get()) : nullptr;
    if (!dir) {
        problems->push_back(std::string("cannot list directory: ") + std::strerror(errno));
        return l;
    }
    rd.release();
    l.listed = true;
    while (dirent* de = readdir(dir)) {
        const std::string name = de->d_name;
        if (name == "." || name == "..") continue;
        if (is_reserved_backing_name(name)) {
            l.has_index = l.has_index || is_index_file_name(name);
            continue;
        }
        struct stat st {};
        if (opt.lazy_times && (de->d_type == DT_REG || de->d_type == DT_DIR)) {
            l.items.emplace(name, BackingItem{de->d_type == DT_DIR, st, false});
            continue;
        }
        if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        // FAT holds only files and directories; anything else on a
        // test backing is not ours to show.
        if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) continue;
        l.items.emplace(name, BackingItem{S_ISDIR(st.st_mode), st, true});
    }
    closedir(dir);
    return l;
}

// What a crash in a directory's first index write leaves: the file made
// but empty, or its slot written without its header, which write_slot
// writes last for that reason.
bool first_write_cut_short(std::string_view file) {
    const auto header = file.substr(0, kSlotHeaderSize);
    return std::all_of(header.begin(), header.end(), [](char c) { return c == '\0'; });
}

// The entries of `d`'s index file and its slot bookkeeping (into d's
// writer); a file no slot of verifies marks `d` for a rebuild.
std::vector<Entry> read_index_file(DirState& d, std::vector<std::string>* problems,
                                   std::vector<std::string>* catch_up) {
    std::uint64_t too_large = 0;
    auto file = read_all(d.fd.get(), &too_large);
    if (!file) return {};
    IndexWriter& w = *d.writer;  // not shared yet: no lock needed
    w.index_exists = true;
    int seen = 0;
    bool over_cap = false;
    auto read = read_index(file->view(), problems, &seen, &over_cap);
    if (!read && !too_large && !over_cap && seen == 0 && first_write_cut_short(file->view())) {
        // Nothing was on the stick yet, so nothing is lost: catch-up.
        if (problem_room(catch_up))
            catch_up->push_back(
                "index file whose first write was cut short: rebuilt from the directory");
        w.rebuild = true;
        d.dirty = true;
        return {};
    }
    if (!read) {
        // One line, whatever the index holds: the cause, then the cure.
        problems->push_back(
            too_large
                ? "index file of " + std::to_string(too_large) + " bytes, past the cap of " +
                      std::to_string(kMaxIndexFileSize) + ": ignored, rebuilt from the directory"
            : over_cap ? "index of more than " + std::to_string(kMaxIndexEntries) +
                             " entries, past the cap: ignored, rebuilt from the directory"
                       : "no index slot verifies (" + std::to_string(seen) +
                             " seen): rebuilt from the directory");
        w.rebuild = true;
        d.dirty = true;
        return {};
    }
    IndexWriteState& st = w.state;
    st.layout.base = SlotSpan{read->base.offset, read->base.length};
    st.layout.capacity = read->base.capacity;
    for (const auto& delta : read->deltas)
        st.layout.deltas.push_back(SlotSpan{delta.offset, delta.length});
    st.generation = read->base.generation;
    st.generation_floor = read->max_delta_base;
    st.force_base = read->strays;
    // What the stick shows before reconcile: the next write sends the
    // difference (reconcile's own changes included).
    st.on_stick = to_records(read->content);
    d.self.mode = read->content.self.mode;
    d.self.atime = read->content.self.atime;
    d.self.mtime = read->content.self.mtime;
    d.self.ctime = read->content.self.ctime;
    return std::move(read->content.entries);
}

}  // namespace

DirState load_dir(UniqueFd fd, const ReconcileOptions& opt, std::vector<std::string>* problems,
                  std::vector<std::string>* catch_up) {
    std::vector<std::string> ignored;
    if (!problems) problems = &ignored;
    if (!catch_up) catch_up = problems;
    DirState d;
    d.fd = std::move(fd);
    struct stat self_st {};
    fstatat(d.fd.get(), "", &self_st, AT_EMPTY_PATH);
    d.self.type = NodeType::Dir;
    d.self.mode = reconcile_default_mode(true, opt.umask);
    d.self.atime = ts_of(self_st.st_atim);
    d.self.mtime = ts_of(self_st.st_mtim);
    d.self.ctime = ts_of(self_st.st_ctim);

    // 1. What the backing holds. A lookup of a name that is not there
    // reads a whole FAT directory: the index file is opened only when the
    // listing shows one (or the directory could not be listed).
    Listing listing = list_backing(d.fd.get(), opt, problems);
    std::map<std::string, BackingItem>& backing = listing.items;

    // 2. The index, if any slot verifies.
    std::vector<Entry> indexed;
    if (listing.has_index || !listing.listed) indexed = read_index_file(d, problems, catch_up);

    // 3. Index entries whose backing vanished drop out; the rest are checked
    // against what the backing says they are.
    std::unordered_set<std::string> indexed_reals, pool_leftovers;
    // Each search for a made-up alias scans the listing: a pull leaves one
    // or two such entries, a hostile index could claim thousands.
    int alias_searches = 64;
    for (const auto& e : indexed) indexed_reals.insert(e.real);
    for (auto& e : indexed) {
        if (e.at_path) {
            if (!opt.pool) {
                if (problem_room(problems))
                    problems->push_back("data path outside the link pool dropped: " + e.name);
                d.dirty = true;
                continue;
            }
            // Its data lies under one of its names (the load of the pool
            // settles which, Fs::load_pool), or on its way into the pool.
            for (const std::string* p : {&e.real, &e.real_prev}) {
                const std::string prefix = std::string(kLinkPoolName) + '/';
                if (p->starts_with(prefix)) pool_leftovers.insert(p->substr(prefix.size()));
            }
            d.add(std::move(e));
            continue;
        }
        if (e.linked()) {
            using LinkGroup = ReconcileOptions::LinkGroup;
            const LinkGroup group = opt.link_group ? opt.link_group(e.link_id) : LinkGroup::Missing;
            const bool alive = group != LinkGroup::Missing;
            if (group == LinkGroup::AtPath) {
                // Its data is under one of its names: this one's while its
                // backing is here (the pool's path says which; a name a
                // crash left in the middle of a move keeps its file claimed,
                // never shown twice, never removed).
                if (!e.real.empty() && (!backing.count(e.real) || backing[e.real].is_dir)) {
                    e.real.clear();
                    d.dirty = true;
                }
            } else if (!alive) {
                if (!e.real.empty() && backing.count(e.real) && !backing[e.real].is_dir) {
                    // The move into the pool never happened: still a plain file.
                    e.link_id = 0;
                    d.dirty = true;
                } else {
                    if (problem_room(catch_up))
                        catch_up->push_back("hard link without its file dropped: " + e.name);
                    d.dirty = true;
                    continue;
                }
            } else if (!e.real.empty() && backing.count(e.real)) {
                // The pool holds it; the name here is what a crash between
                // the two directory writes of a move into or out of the
                // pool leaves (vfat writes the new entry first: on FAT both
                // entries then share the file's clusters until fsck.vfat).
                // Removing it would free those clusters: left alone, and
                // kept claimed (never shown twice, never an heir's name).
                if (problem_room(catch_up))
                    catch_up->push_back(
                        "leftover of a move to or from the link pool, left alone: " + e.real);
                pool_leftovers.insert(e.real);
            } else if (!e.real.empty()) {
                // A move out of the pool that never got to the rename.
                e.real.clear();
                d.dirty = true;
            }
            if (e.type == NodeType::Dir) e.type = NodeType::File;
            d.add(std::move(e));
            continue;
        }
        auto it = backing.find(e.real);
        if (it == backing.end()) {
            // vfat writes a name's long-name slots and its 8.3 entry as
            // separate sectors; a pull between them leaves only the 8.3
            // alias (KEY for key). Nothing else on the stick claims it: the
            // file is this entry's.
            std::string alias = e.real;
            for (char& c : alias)
                if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
            auto ai = backing.find(alias);
            if (alias != e.real && ai != backing.end() && !indexed_reals.count(alias) &&
                !d.claimed.count(alias)) {
                if (problem_room(catch_up))
                    catch_up->push_back("entry found under its 8.3 alias " + alias + ": " + e.name);
                e.real = alias;
                d.dirty = true;
                it = ai;
            } else if (alias_searches-- > 0) {
                // A long name vfat could not hold as 8.3 has a made-up
                // alias (G_25_~~1 for g_25_~1a2b3c4d): taken when exactly
                // one unclaimed backing object can be it.
                auto found = backing.end();
                int candidates = 0;
                for (auto bi = backing.begin(); bi != backing.end() && candidates < 2; ++bi) {
                    if (indexed_reals.count(bi->first) || d.claimed.count(bi->first) ||
                        !could_be_vfat_alias(bi->first, e.real))
                        continue;
                    found = bi;
                    ++candidates;
                }
                if (candidates == 1) {
                    if (problem_room(catch_up))
                        catch_up->push_back("entry found under its 8.3 alias " + found->first +
                                            ": " + e.name);
                    e.real = found->first;
                    d.dirty = true;
                    it = found;
                }
            }
        }
        if (it == backing.end() || d.claimed.count(e.real)) {
            if (problem_room(catch_up))
                catch_up->push_back("entry without backing file dropped: " + e.name);
            d.dirty = true;
            continue;
        }
        const auto& b = it->second;
        if (b.is_dir != (e.type == NodeType::Dir)) {
            if (problem_room(catch_up))
                catch_up->push_back("entry type fixed from the backing: " + e.name);
            e.type = b.is_dir ? NodeType::Dir : NodeType::File;
            e.mode = reconcile_default_mode(b.is_dir, opt.umask);
            e.target.clear();
            d.dirty = true;
        }
        if (e.type == NodeType::File) {
            e.unsettled = Entry::Unsettled::Edit;
            if (b.have_st && settle_entry(e, b.st)) d.dirty = true;
        }
        d.add(std::move(e));
    }

    // 4. Backing entries the index does not know appear with default modes.
    for (const auto& [real, b] : backing) {
        if (d.claimed.count(real) || pool_leftovers.count(real)) continue;
        if (d.entries.count(real)) {
            if (problem_room(problems))
                problems->push_back("backing file shadowed by an indexed name, left alone: " +
                                    real);
            continue;
        }
        Entry e;
        e.name = real;
        e.real = real;
        e.type = b.is_dir ? NodeType::Dir : NodeType::File;
        e.mode = reconcile_default_mode(b.is_dir, opt.umask);
        e.unsettled = Entry::Unsettled::Times;
        if (b.have_st) settle_entry(e, b.st);
        // (Not when the index was refused or damaged: its one line says
        // that the directory is rebuilt from these.)
        if (d.writer->index_exists && !d.writer->rebuild) {
            if (problem_room(catch_up)) catch_up->push_back("new backing file added: " + real);
            d.dirty = true;
        }
        d.add(std::move(e));
    }
    return d;
}

namespace {

// Writes `records` to `w`'s index file in `dir_fd` as a delta record of
// what changed since the last write, or as the next full slot, and fsyncs;
// call with w.mu held. Neither overlaps the newest verified slot or its
// deltas, so a torn write leaves what they say readable
// (docs/on-stick-format.md, 2a).
int write_slot(IndexWriter& w, int dir_fd, RecordSet records, IndexStats* stats) {
    // A file to rebuild, or none (never written, or unlinked by an rmdir
    // that then failed): start afresh, a full slot at offset 0.
    if (w.rebuild || !w.index_exists) w.state = IndexWriteState{};
    // A delta record when the change is small, else the next full slot;
    // either lies apart from the newest slot and its deltas.
    const IndexWrite iw = plan_index_write(w.state, records);
    if (iw.kind == IndexWrite::Kind::Nothing) return 0;  // the stick already shows it
    const std::string& slot = iw.bytes;
    // Never an index the reader refuses (it would show the directory with
    // default modes): the one on the stick stays. Operations keep within
    // the caps (kIndexBudget); this is the last guard.
    if (records.entries.size() > kMaxIndexEntries || iw.offset + slot.size() > kMaxIndexFileSize)
        return EFBIG;

    const std::string name(kIndexFileName);
    UniqueFd f(openat(dir_fd, name.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC));
    if (!f) {
        f.reset(
            openat(dir_fd, name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (!f) return errno;
        mark_hidden(f.get());
    }
    if (w.rebuild && ftruncate(f.get(), 0) != 0) return errno;
    // FAT has no holes: a write past the end makes the driver write zeros
    // up to it. Counted, so the figure is what the stick really gets.
    struct stat fst {};
    const std::uint64_t gap =
        fstat(f.get(), &fst) == 0 && iw.offset > static_cast<std::uint64_t>(fst.st_size)
            ? iw.offset - static_cast<std::uint64_t>(fst.st_size)
            : 0;
    // A failed write may have landed in part, or whole: the next one is a
    // full slot, which supersedes whatever it left.
    auto failed = [&w](int err) {
        w.state.force_base = true;
        return err;
    };
    // Into an empty file the header goes last: a write cut short then
    // leaves no header, which readers take for no index (first_write_cut_short).
    const std::size_t head =
        fst.st_size == 0 && iw.offset == 0 && slot.size() > kSlotHeaderSize ? kSlotHeaderSize : 0;
    if (int err = pwrite_all(f.get(), slot.data() + head, slot.size() - head, iw.offset + head))
        return failed(err);
    if (head != 0)
        if (int err = pwrite_all(f.get(), slot.data(), head, iw.offset)) return failed(err);
    // A full slot makes room for its deltas now (zeros past the end only:
    // nothing there to damage), so that they never grow the file.
    std::uint64_t zeros = 0;
    const std::uint64_t end =
        std::max<std::uint64_t>(static_cast<std::uint64_t>(fst.st_size), iw.offset + slot.size());
    if (iw.extend_to > end) {
        const std::string z(iw.extend_to - end, '\0');
        if (int err = pwrite_all(f.get(), z.data(), z.size(), end)) return failed(err);
        zeros = z.size();
    }
    if (backing_fsync(f.get()) != 0) return failed(errno);
    w.index_exists = true;
    w.rebuild = false;
    commit_index_write(w.state, iw, std::move(records));
    if (stats) {
        stats->writes += 1;
        stats->bytes += slot.size() + gap + zeros;
    }
    return 0;
}

}  // namespace

IndexJob prepare_index_job(DirState& d, bool payload, const std::function<void()>& pause) {
    IndexJob job;
    job.writer = d.writer;
    job.dirfd.reset(fcntl(d.fd.get(), F_DUPFD_CLOEXEC, 0));
    if (!job.dirfd) job.dup_error = errno;
    if (!d.renamed_in.empty()) {
        std::lock_guard pl(d.writer->pending_mu);
        for (auto& r : d.renamed_in) d.writer->pending_renamed.push_back(std::move(r));
        d.renamed_in.clear();
    }
    if (payload) {
        job.seq = ++d.seq;
        // Changes from now on (also during a pause) make it dirty again; a
        // failed write does too.
        d.dirty = false;
        d.atime_dirty = false;
        // Record by record: the write compares them with what the stick
        // holds and sends only those that changed.
        job.records.self = serialize_self(d.self);
        std::size_t n = 0;
        for (const auto& [name, e] : d.entries) {
            if (pause && ++n % kSnapshotChunk == 0) pause();
            job.records.entries.emplace_hint(job.records.entries.end(), name, serialize_entry(e));
        }
    }
    return job;
}

int run_index_job(IndexJob& job, IndexStats* stats, BackingAllocLock* alloc) {
    // Shared: no namespace operation's ordered directory writes may have
    // this write come between them (BackingAllocLock).
    std::shared_lock<BackingAllocLock> shared;
    if (alloc) shared = std::shared_lock(*alloc);
    IndexWriter& w = *job.writer;
    std::lock_guard wl(w.mu);
    int err = job.dup_error;
    if (!err) {
        // Renamed files first, then the directory, then the index naming
        // them: vfat carries a renamed file's clusters only with its own
        // write-back.
        std::vector<std::string> renamed;
        {
            std::lock_guard pl(w.pending_mu);
            renamed.swap(w.pending_renamed);
        }
        for (const auto& real : renamed) {
            const int e = fsync_backing(job.dirfd.get(), real);
            // ENOENT: renamed again or removed since, nothing to carry.
            if (e && e != ENOENT && job.sync_error == 0) job.sync_error = e;
        }
        // A renamed file's fsync stores the sector of its new 8.3 entry
        // (clusters and size); its long-name slots stay in the directory's
        // buffers, perhaps in another sector, until the directory is synced
        // (kernel write-back: 30 s). A pull in between left the file under
        // its 8.3 alias only (G_25_~~1 for "g:25?", a RandomPulls run): the
        // directory follows at once.
        if (job.sync_dir || !renamed.empty()) {
            const int e = fsync_backing(job.dirfd.get(), "");
            if (e && job.sync_error == 0) job.sync_error = e;
        }
        if (job.seq > w.landed && !w.gone)
            err = write_slot(w, job.dirfd.get(), std::move(job.records), stats);
    }
    if (job.seq == 0) return err;
    if (err == 0) {
        // Also when skipped: what landed is at least as new.
        w.landed = std::max(w.landed.load(), job.seq);
    } else {
        w.last_error = err;
    }
    w.attempted = std::max(w.attempted, job.seq);
    w.done_cv.notify_all();
    return err;
}

void restore_after_failure(DirState& d) {
    // (Renamed names not synced yet stay pending in the writer.)
    d.dirty = true;
}

int wait_landed(IndexWriter& w, std::uint64_t seq) {
    std::unique_lock wl(w.mu);
    w.done_cv.wait(wl, [&] { return w.landed >= seq || w.attempted >= seq; });
    if (w.landed >= seq) return 0;
    return w.last_error != 0 ? w.last_error : EIO;
}

int write_index(DirState& d, IndexStats* stats) {
    IndexJob job = prepare_index_job(d, true);
    const int err = run_index_job(job, stats);
    if (err) restore_after_failure(d);
    return err;
}

}  // namespace pershome::fs
