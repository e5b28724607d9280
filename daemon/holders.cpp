#include "daemon/holders.hpp"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/core.h>

#include <fstream>
#include <thread>

#include "common/display_text.hpp"
#include "common/unique_fd.hpp"
#include "daemon/command.hpp"

namespace pershome {
namespace {

using Clock = std::chrono::steady_clock;

bool below(const std::string& link, const std::string& path) {
    return link == path || (link.size() > path.size() && link.compare(0, path.size(), path) == 0 &&
                            link[path.size()] == '/');
}

std::string read_link(const std::string& p) {
    char buf[4096];
    ssize_t n = ::readlink(p.c_str(), buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

bool holds(const std::string& proc, const std::string& path) {
    if (below(read_link(proc + "/cwd"), path) || below(read_link(proc + "/root"), path))
        return true;
    DIR* d = ::opendir((proc + "/fd").c_str());
    if (!d) return false;
    bool found = false;
    while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        if (below(read_link(proc + "/fd/" + e->d_name), path)) {
            found = true;
            break;
        }
    }
    ::closedir(d);
    return found;
}

}  // namespace

std::vector<Holder> find_holders(const std::string& path, std::optional<uid_t> only_uid) {
    std::vector<Holder> out;
    DIR* d = ::opendir("/proc");
    if (!d) return out;
    const pid_t self = ::getpid();
    while (dirent* e = ::readdir(d)) {
        char* end = nullptr;
        long pid = std::strtol(e->d_name, &end, 10);
        if (pid <= 0 || *end != '\0' || pid == self) continue;
        const std::string proc = fmt::format("/proc/{}", pid);
        struct stat st {};
        if (::stat(proc.c_str(), &st) != 0) continue;  // ended meanwhile
        // Reading every fd link of every process is the cost: skip others first.
        if (only_uid && st.st_uid != *only_uid) continue;
        if (!holds(proc, path)) continue;
        Holder h;
        h.pid = static_cast<pid_t>(pid);
        h.uid = st.st_uid;
        std::ifstream comm(proc + "/comm");
        std::getline(comm, h.comm);
        out.push_back(std::move(h));
    }
    ::closedir(d);
    return out;
}

std::string describe_holders(const std::string& path) {
    std::string text;
    std::size_t n = 0;
    auto holders = find_holders(path);
    for (const Holder& h : holders) {
        if (++n > 8) {
            text += fmt::format(" and {} more", holders.size() - 8);
            break;
        }
        if (!text.empty()) text += ", ";
        text += fmt::format("pid {} ({}, uid {})", h.pid, display_text(h.comm, 32), h.uid);
    }
    return text;
}

namespace {

// UID's processes holding PATH, each as a pidfd checked after it was opened:
// a pid that ended and was reused between the scan and the signal is either
// the process checked here or one the signal can no longer reach.
std::vector<UniqueFd> user_holders(const std::string& path, uid_t uid) {
    std::vector<UniqueFd> out;
    for (const Holder& h : find_holders(path, uid)) {
        UniqueFd fd = open_pidfd(h.pid);
        if (!fd) continue;  // ended meanwhile
        const std::string proc = fmt::format("/proc/{}", h.pid);
        struct stat st {};
        if (::stat(proc.c_str(), &st) != 0 || st.st_uid != uid || !holds(proc, path)) continue;
        out.push_back(std::move(fd));
    }
    return out;
}

void signal_all(const std::vector<UniqueFd>& pidfds, int signo) {
    // ESRCH: it ended by itself, which is what was asked.
    for (const auto& fd : pidfds) (void)signal_pidfd(fd.get(), signo);
}

}  // namespace

std::size_t end_user_holders(const std::string& path, uid_t uid, std::chrono::seconds grace) {
    // Never root's processes, whatever uid a session claims.
    if (uid == 0) return 0;
    auto asked = user_holders(path, uid);
    if (asked.empty()) return 0;
    signal_all(asked, SIGTERM);
    const auto deadline = Clock::now() + grace;
    while (Clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        if (find_holders(path, uid).empty()) return asked.size();
    }
    signal_all(user_holders(path, uid), SIGKILL);
    return asked.size();
}

}  // namespace pershome
