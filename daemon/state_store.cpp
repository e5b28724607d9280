#include "daemon/state_store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <system_error>

#include <fmt/core.h>

#include "common/path_escape.hpp"

namespace pershome {
namespace {

constexpr const char* kSuffix = ".json";
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
    write_atomically(sessions_fd_.get(), path_escape(record.user) + kSuffix,
                     to_json(record).dump(2) + "\n", dir_ + "/sessions");
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
            warnings.push_back(fmt::format("{}/{}: {}", dir_, kRemoteDevicesFile, strerror(errno)));
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

void StateStore::erase(const std::string& user) {
    const std::string name = path_escape(user) + kSuffix;
    if (unlinkat(sessions_fd_.get(), name.c_str(), 0) < 0 && errno != ENOENT) {
        fail("unlink " + dir_ + "/sessions/" + name);
    }
}

std::vector<SessionRecord> StateStore::load_all(std::vector<std::string>& warnings) const {
    std::vector<SessionRecord> out;
    int dfd = openat(sessions_fd_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) fail("open " + dir_ + "/sessions");
    std::unique_ptr<DIR, int (*)(DIR*)> dir(fdopendir(dfd), closedir);
    if (!dir) {
        close(dfd);
        fail("opendir " + dir_ + "/sessions");
    }
    while (dirent* e = readdir(dir.get())) {
        std::string name = e->d_name;
        if (name.size() <= strlen(kSuffix) || name[0] == '.' ||
            name.compare(name.size() - strlen(kSuffix), std::string::npos, kSuffix) != 0) {
            continue;
        }
        const std::string shown = dir_ + "/sessions/" + name;
        UniqueFd fd(openat(dirfd(dir.get()), name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
        if (!fd) {
            warnings.push_back(fmt::format("{}: {}", shown, strerror(errno)));
            continue;
        }
        std::string text;
        char buf[4096];
        ssize_t n;
        while ((n = ::read(fd.get(), buf, sizeof buf)) > 0 && text.size() < (1u << 20)) {
            text.append(buf, static_cast<size_t>(n));
        }
        try {
            SessionRecord r = from_json(nlohmann::json::parse(text));
            if (path_escape(r.user) + kSuffix != name) {
                warnings.push_back(fmt::format("{}: record is for user {}", shown, r.user));
                continue;
            }
            out.push_back(std::move(r));
        } catch (const std::exception& ex) {
            warnings.push_back(fmt::format("{}: unreadable session record: {}", shown, ex.what()));
        }
    }
    return out;
}

}  // namespace pershome
