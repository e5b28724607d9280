#include "daemon/state_store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <system_error>

#include <fmt/core.h>

#include "common/path_escape.hpp"
#include "homework/errno_text.hpp"

namespace pershome {
namespace {

constexpr const char* kSuffix = ".json";
constexpr const char* kRejectedSuffix = ".rejected";
// Far above what any login makes (see max_references in pershomed.json(5)):
// a record with more was not written by us.
constexpr size_t kMaxRecordReferences = 65536;
constexpr size_t kMaxRecordBytes = 16u << 20;
// Remote sticks attached with AttachDevice: no udev tells a restarted daemon of them.
constexpr const char* kRemoteDevicesFile = "remote-devices.json";

[[noreturn]] void fail(const std::string& what) {
    throw std::system_error(errno, std::generic_category(), what);
}

UniqueFd open_or_make_dir(int parent, const char* name, mode_t mode, const std::string& shown) {
    if (mkdirat(parent, name, mode) < 0 && errno != EEXIST) fail("mkdir " + shown);
    UniqueFd fd(openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) fail("open " + shown);
    struct stat st {};
    if (fstat(fd.get(), &st) < 0) fail("stat " + shown);
    // The state dir decides what gets removed as root: it must be ours alone.
    if (st.st_uid != 0 && geteuid() == 0) {
        throw std::runtime_error(fmt::format("state dir {} is not owned by root", shown));
    }
    if ((st.st_mode & 022) != 0) {
        throw std::runtime_error(
            fmt::format("state dir {} is writable by group or others (mode {:04o})", shown,
                        st.st_mode & 07777));
    }
    return fd;
}

nlohmann::json to_json(const SessionRecord& r) {
    return {{"version", 1},
            {"user", r.user},
            {"uid", r.uid},
            {"gid", r.gid},
            {"mode", r.mode},
            {"home", r.home},
            {"tmphome_root", r.tmphome_root},
            {"state", r.state},
            {"opened_usec", r.opened_usec},
            {"references", r.references},
            {"device", r.device},
            {"devnode", r.devnode},
            {"stick_dir", r.stick_dir},
            {"fs_pid", r.fs_pid},
            {"made_mount_point", r.made_mount_point},
            {"degraded", r.degraded}};
}

SessionRecord from_json(const nlohmann::json& j) {
    SessionRecord r;
    r.user = j.at("user").get<std::string>();
    r.uid = j.at("uid").get<uid_t>();
    r.gid = j.at("gid").get<gid_t>();
    r.mode = j.at("mode").get<std::string>();
    r.home = j.at("home").get<std::string>();
    r.tmphome_root = j.at("tmphome_root").get<std::string>();
    r.state = j.at("state").get<std::string>();
    r.opened_usec = j.at("opened_usec").get<uint64_t>();
    r.references = j.at("references").get<std::vector<std::string>>();
    // Absent in records of tmphome sessions written before persistent homes.
    r.device = j.value("device", "");
    r.devnode = j.value("devnode", "");
    r.stick_dir = j.value("stick_dir", "");
    r.fs_pid = j.value("fs_pid", int64_t{0});
    r.made_mount_point = j.value("made_mount_point", false);
    r.degraded = j.value("degraded", false);
    return r;
}

std::string record_name(uid_t uid) {
    return std::to_string(uid) + kSuffix;
}

bool is_reference_id(const std::string& id) {
    return id.size() == 32 && id.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// An absolute path without ".", ".." or empty components: what the daemon
// wrote. Anything else was edited by hand or damaged.
bool is_clean_absolute(const std::string& p) {
    if (p.size() < 2 || p[0] != '/' || p.back() == '/' || p.size() > 4096) return false;
    if (p.find('\0') != std::string::npos) return false;
    size_t pos = 1;
    while (pos <= p.size()) {
        size_t end = p.find('/', pos);
        if (end == std::string::npos) end = p.size();
        const std::string_view part(p.data() + pos, end - pos);
        if (part.empty() || part == "." || part == "..") return false;
        pos = end + 1;
    }
    return true;
}

bool is_below(const std::string& root, const std::string& path) {
    return path.size() > root.size() + 1 && path.compare(0, root.size(), root) == 0 &&
           path[root.size()] == '/';
}

// Why RECORD cannot be acted on, or nothing. The Manager checks what needs
// its settings (allowed tmphome roots, the sticks dir) on top.
std::optional<std::string> record_problem(const SessionRecord& r) {
    if (r.user.empty() || r.user.size() > 256 || r.user.find('\0') != std::string::npos)
        return "the user name is empty, longer than 256 bytes or holds a NUL byte";
    if (r.uid == static_cast<uid_t>(-1) || r.gid == static_cast<gid_t>(-1))
        return "uid or gid is -1";
    if (r.mode != "tmphome" && r.mode != "persistent") return "unknown mode \"" + r.mode + "\"";
    if (r.state != "active" && r.state != "closing") return "unknown state \"" + r.state + "\"";
    if (!is_clean_absolute(r.home)) return "the home is not a clean absolute path";
    if (r.mode == "tmphome" &&
        (!is_clean_absolute(r.tmphome_root) || !is_below(r.tmphome_root, r.home)))
        return "the home is not below its tmphome root";
    if (r.references.size() > kMaxRecordReferences) return "too many references";
    std::vector<std::string> ids = r.references;
    std::sort(ids.begin(), ids.end());
    if (std::adjacent_find(ids.begin(), ids.end()) != ids.end()) return "a reference is repeated";
    for (const auto& id : ids) {
        if (!is_reference_id(id)) return "a reference id is not 32 hex digits";
    }
    if (r.mode == "persistent") {
        if (r.device.empty() || r.device.size() > 255 || r.device.find('/') != std::string::npos)
            return "the device name is empty, too long or holds a /";
        if (!is_clean_absolute(r.stick_dir)) return "the stick dir is not a clean absolute path";
        if (r.fs_pid < 0 || r.fs_pid > std::numeric_limits<pid_t>::max())
            return "the pershome-fs pid is out of range";
    }
    return std::nullopt;
}

std::string read_small_file(int fd) {
    std::string text;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) {
        text.append(buf, static_cast<size_t>(n));
        if (text.size() > kMaxRecordBytes) throw std::runtime_error("larger than 16 MiB");
    }
    if (n < 0) throw std::system_error(errno, std::generic_category(), "read");
    return text;
}

}  // namespace

StateStore::StateStore(std::string state_dir) : dir_(std::move(state_dir)) {
    if (mkdir(dir_.c_str(), 0755) < 0 && errno != EEXIST) fail("mkdir " + dir_);
    top_fd_.reset(open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!top_fd_) fail("open " + dir_);
    sessions_fd_ = open_or_make_dir(top_fd_.get(), "sessions", 0700, dir_ + "/sessions");
    refs_fd_ = open_or_make_dir(top_fd_.get(), "refs", 0700, dir_ + "/refs");
    // Raw sticks are mounted below it: root's alone, or a user could reach
    // the stick's files behind pershome-fs. The fd is not needed later.
    open_or_make_dir(top_fd_.get(), "sticks", 0700, dir_ + "/sticks");
}

void StateStore::write_atomically(int dirfd, const std::string& name, const std::string& text,
                                  const std::string& shown_dir) {
    const std::string tmp = "." + name + ".tmp";
    UniqueFd fd(
        openat(dirfd, tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) fail("create " + shown_dir + "/" + tmp);
    size_t off = 0;
    while (off < text.size()) {
        ssize_t n = ::write(fd.get(), text.data() + off, text.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail("write " + shown_dir + "/" + tmp);
        }
        off += static_cast<size_t>(n);
    }
    if (fsync(fd.get()) < 0) fail("fsync " + shown_dir + "/" + tmp);
    fd.reset();
    if (renameat(dirfd, tmp.c_str(), dirfd, name.c_str()) < 0)
        fail("rename " + shown_dir + "/" + name);
}

void StateStore::save(const SessionRecord& record) {
    write_atomically(sessions_fd_.get(), record_name(record.uid), to_json(record).dump(2) + "\n",
                     dir_ + "/sessions");
}

void StateStore::save_remote_devices(const std::vector<RemoteDeviceRecord>& devices) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& d : devices)
        j.push_back(
            {{"name", d.name}, {"backend", d.backend}, {"source", d.source}, {"label", d.label}});
    write_atomically(top_fd_.get(), kRemoteDevicesFile, j.dump(2) + "\n", dir_);
}

std::vector<RemoteDeviceRecord> StateStore::load_remote_devices(
    std::vector<std::string>& warnings) const {
    std::vector<RemoteDeviceRecord> out;
    UniqueFd fd(openat(top_fd_.get(), kRemoteDevicesFile, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
        if (errno != ENOENT)
            warnings.push_back(
                fmt::format("{}/{}: {}", dir_, kRemoteDevicesFile, homework::errno_text(errno)));
        return out;
    }
    std::string text;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd.get(), buf, sizeof buf)) > 0 && text.size() < (1u << 20))
        text.append(buf, static_cast<size_t>(n));
    try {
        for (const auto& d : nlohmann::json::parse(text))
            out.push_back(RemoteDeviceRecord{
                d.at("name").get<std::string>(), d.at("backend").get<std::string>(),
                d.at("source").get<std::string>(), d.at("label").get<std::string>()});
    } catch (const std::exception& ex) {
        warnings.push_back(
            fmt::format("{}/{}: unreadable: {}", dir_, kRemoteDevicesFile, ex.what()));
    }
    return out;
}

void StateStore::erase(uid_t uid) {
    const std::string name = record_name(uid);
    if (unlinkat(sessions_fd_.get(), name.c_str(), 0) < 0 && errno != ENOENT) {
        fail("unlink " + dir_ + "/sessions/" + name);
    }
}

void StateStore::reject(uid_t uid, const std::string& why, std::vector<std::string>& warnings) {
    set_aside(record_name(uid), why, warnings);
}

void StateStore::set_aside(const std::string& name, const std::string& why,
                           std::vector<std::string>& warnings) {
    const std::string shown = dir_ + "/sessions/" + name;
    warnings.push_back(fmt::format("{}: {}; set aside as {}{}", shown, why, name, kRejectedSuffix));
    if (renameat(sessions_fd_.get(), name.c_str(), sessions_fd_.get(),
                 (name + kRejectedSuffix).c_str()) < 0 &&
        errno != ENOENT)
        warnings.push_back(
            fmt::format("{}: cannot set aside: {}", shown, homework::errno_text(errno)));
}

std::vector<SessionRecord> StateStore::load_all(std::vector<std::string>& warnings) {
    std::vector<std::string> names;
    {
        int dfd = openat(sessions_fd_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) fail("open " + dir_ + "/sessions");
        std::unique_ptr<DIR, int (*)(DIR*)> dir(fdopendir(dfd), closedir);
        if (!dir) {
            close(dfd);
            fail("opendir " + dir_ + "/sessions");
        }
        while (dirent* e = readdir(dir.get())) {
            std::string name = e->d_name;
            if (name.size() > strlen(kSuffix) && name[0] != '.' &&
                name.compare(name.size() - strlen(kSuffix), std::string::npos, kSuffix) == 0)
                names.push_back(std::move(name));
        }
    }
    std::sort(names.begin(), names.end());
    std::vector<SessionRecord> out;
    for (const auto& name : names) {
        auto r = load_one(name, warnings);
        if (r) out.push_back(std::move(*r));
    }
    return out;
}

std::optional<SessionRecord> StateStore::load_one(const std::string& name,
                                                  std::vector<std::string>& warnings) {
    const std::string shown = dir_ + "/sessions/" + name;
    auto reject = [&](const std::string& why) -> std::optional<SessionRecord> {
        set_aside(name, why, warnings);
        return std::nullopt;
    };
    UniqueFd fd(
        openat(sessions_fd_.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!fd) {
        warnings.push_back(fmt::format("{}: {}", shown, homework::errno_text(errno)));
        return std::nullopt;
    }
    struct stat st {};
    if (fstat(fd.get(), &st) < 0 || !S_ISREG(st.st_mode)) return reject("not a regular file");
    SessionRecord r;
    try {
        r = from_json(nlohmann::json::parse(read_small_file(fd.get())));
    } catch (const std::exception& ex) {
        return reject(fmt::format("unreadable session record: {}", ex.what()));
    }
    if (auto why = record_problem(r)) return reject(*why);
    if (name == record_name(r.uid)) return r;
    // Records written before uid-named files were named after the user.
    if (name != path_escape(r.user) + kSuffix)
        return reject(fmt::format("the record is for uid {}, not for this file name", r.uid));
    if (renameat(sessions_fd_.get(), name.c_str(), sessions_fd_.get(), record_name(r.uid).c_str()) <
        0) {
        warnings.push_back(fmt::format("{}: cannot rename to {}: {}", shown, record_name(r.uid),
                                       homework::errno_text(errno)));
    }
    return r;
}

}  // namespace pershome
