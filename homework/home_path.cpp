#include "homework/home_path.hpp"
#include "homework/errno_text.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

namespace pershome::homework {
namespace {

std::vector<std::string_view> split_components(std::string_view path) {
    std::vector<std::string_view> parts;
    size_t pos = 0;
    while (pos < path.size()) {
        size_t next = path.find('/', pos);
        if (next == std::string_view::npos) next = path.size();
        if (next > pos) parts.push_back(path.substr(pos, next - pos));
        pos = next + 1;
    }
    return parts;
}

std::string mode_string(mode_t mode) {
    return fmt::format("{:04o}", mode & 07777);
}

}  // namespace

std::string normalize_lexically(std::string_view path) {
    const bool absolute = !path.empty() && path.front() == '/';
    std::vector<std::string_view> out;
    for (std::string_view part : split_components(path)) {
        if (part == ".") continue;
        if (part == "..") {
            if (!out.empty() && out.back() != "..") {
                out.pop_back();
            } else if (!absolute) {
                out.push_back(part);  // a relative path may climb; "/.." is "/"
            }
            continue;
        }
        out.push_back(part);
    }
    if (out.empty()) return std::string(absolute ? "/" : ".");
    std::string result;
    for (std::string_view part : out) {
        if (absolute || !result.empty()) result += '/';
        result.append(part);
    }
    return result;
}

std::optional<std::string> relative_below(std::string_view root, std::string_view home) {
    if (root.empty() || home.empty() || root.front() != '/' || home.front() != '/') {
        return std::nullopt;
    }
    const std::string r = normalize_lexically(root);
    const std::string h = normalize_lexically(home);
    if (r == "/") {
        if (h == "/") return std::nullopt;
        return h.substr(1);
    }
    // The byte after the root prefix must be a separator: "/tmphome2" is not below "/tmphome".
    if (h.size() <= r.size() + 1 || h.compare(0, r.size(), r) != 0 || h[r.size()] != '/') {
        return std::nullopt;
    }
    return h.substr(r.size() + 1);
}

tl::expected<TmphomeRoot, std::string> open_tmphome_root(std::string_view raw) {
    if (raw.empty() || raw.front() != '/') {
        return tl::unexpected(
            fmt::format("tmphome root \"{}\" is not an absolute path", std::string(raw)));
    }
    const std::string path = normalize_lexically(raw);
    if (path == "/") {
        return tl::unexpected(
            fmt::format("tmphome root {} is the root directory, which "
                        "contains /home; refusing",
                        path));
    }
    if (path == "/home" || relative_below("/home", path)) {
        return tl::unexpected(
            fmt::format("tmphome root {} is /home or lies inside /home; refusing", path));
    }
    if (relative_below(path, "/home")) {
        return tl::unexpected(fmt::format("tmphome root {} contains /home; refusing", path));
    }

    UniqueFd dir(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dir) {
        return tl::unexpected(
            fmt::format("tmphome root {}: cannot open /: {}", path, errno_text(errno)));
    }
    std::string walked;
    const auto parts = split_components(path);
    for (size_t i = 0; i < parts.size(); ++i) {
        const bool last = i + 1 == parts.size();
        // The parent we hold must not let a non-root user swap the next component: otherwise
        // the name we validated could be replaced by the time the daemon uses the path.
        struct stat pst {};
        if (::fstat(dir.get(), &pst) != 0) {
            return tl::unexpected(fmt::format("tmphome root {}: cannot stat {}: {}", path,
                                              walked.empty() ? "/" : walked, errno_text(errno)));
        }
        if (pst.st_uid != 0 || ((pst.st_mode & S_IWOTH) && !(pst.st_mode & S_ISVTX)) ||
            ((pst.st_mode & S_IWGRP) && !(pst.st_mode & S_ISVTX) && pst.st_gid != 0)) {
            return tl::unexpected(fmt::format(
                "tmphome root {}: its ancestor {} is not a root-owned directory safe from "
                "other users (owner {}, mode {})",
                path, walked.empty() ? "/" : walked, pst.st_uid, mode_string(pst.st_mode)));
        }
        const std::string name(parts[i]);
        walked += "/" + name;
        const int flags = (last ? O_RDONLY : O_PATH) | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
        UniqueFd next(::openat(dir.get(), name.c_str(), flags));
        if (!next) {
            const int err = errno;
            struct stat st {};
            if (::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
                if (S_ISLNK(st.st_mode)) {
                    return tl::unexpected(fmt::format(
                        "tmphome root {}: {} is a symbolic link; refusing", path, walked));
                }
                if (!S_ISDIR(st.st_mode)) {
                    return tl::unexpected(
                        fmt::format("tmphome root {}: {} is not a directory", path, walked));
                }
            }
            if (err == ENOENT) {
                return tl::unexpected(
                    fmt::format("tmphome root {}: {} does not exist", path, walked));
            }
            return tl::unexpected(
                fmt::format("tmphome root {}: cannot open {}: {}", path, walked, errno_text(err)));
        }
        dir = std::move(next);
    }

    struct stat st {};
    if (::fstat(dir.get(), &st) != 0) {
        return tl::unexpected(
            fmt::format("tmphome root {}: cannot stat: {}", path, errno_text(errno)));
    }
    if (st.st_uid != 0) {
        return tl::unexpected(
            fmt::format("tmphome root {} is not owned by root (owner uid {})", path, st.st_uid));
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        return tl::unexpected(
            fmt::format("tmphome root {} is writable by group or others (mode {})", path,
                        mode_string(st.st_mode)));
    }
    return TmphomeRoot{path, std::move(dir)};
}

namespace {

WalkError walk_error(WalkFailure kind, std::string message) {
    return WalkError{kind, std::move(message)};
}

// Opens, creating it first if asked, the directory `name` in `dir`; `shown` names it.
tl::expected<UniqueFd, WalkError> open_component(int dir, const std::string& name,
                                                 const std::string& shown,
                                                 const WalkOptions& options) {
    bool created = false;
    if (options.create) {
        created = ::mkdirat(dir, name.c_str(), 0755) == 0;
        if (!created && errno != EEXIST) {
            return tl::unexpected(
                walk_error(WalkFailure::kFailed,
                           fmt::format("cannot create {}: {}", shown, errno_text(errno))));
        }
    }
    UniqueFd next(::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next) {
        const int err = errno;
        struct stat st {};
        if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
            return tl::unexpected(walk_error(
                WalkFailure::kUnsafe, fmt::format("{} is a symbolic link; refusing", shown)));
        }
        const WalkFailure kind = err == ENOENT    ? WalkFailure::kMissing
                                 : err == ENOTDIR ? WalkFailure::kUnsafe
                                                  : WalkFailure::kFailed;
        return tl::unexpected(
            walk_error(kind, fmt::format("cannot open {}: {}", shown, errno_text(err))));
    }
    // Users pass through on the way to their homes, whatever umask the daemon runs with.
    if (created && ::fchmod(next.get(), 0755) != 0) {
        return tl::unexpected(walk_error(
            WalkFailure::kFailed, fmt::format("cannot chmod {}: {}", shown, errno_text(errno))));
    }
    struct stat st {};
    if (options.root_owned &&
        (::fstat(next.get(), &st) != 0 || st.st_uid != 0 || (st.st_mode & 022) != 0)) {
        return tl::unexpected(walk_error(
            WalkFailure::kUnsafe,
            fmt::format("{} must be a directory owned by root and not writable by group or others",
                        shown)));
    }
    return next;
}

}  // namespace

tl::expected<UniqueFd, WalkError> open_dir_below(int dirfd, std::string_view relative,
                                                 const WalkOptions& options) {
    if (!relative.empty() && relative.front() == '/') {
        return tl::unexpected(walk_error(
            WalkFailure::kUnsafe, fmt::format("path {} is not relative", std::string(relative))));
    }
    UniqueFd dir(::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir) {
        return tl::unexpected(walk_error(
            WalkFailure::kFailed, fmt::format("cannot reopen directory: {}", errno_text(errno))));
    }
    std::string shown = options.shown_base;
    for (std::string_view part : split_components(relative)) {
        if (part == ".") continue;
        if (part == "..") {
            return tl::unexpected(walk_error(
                WalkFailure::kUnsafe,
                fmt::format("path {} contains \"..\"; refusing", std::string(relative))));
        }
        const std::string name(part);
        shown += shown.empty() ? name : "/" + name;
        auto next = open_component(dir.get(), name, shown, options);
        if (!next) return tl::unexpected(next.error());
        dir = std::move(*next);
    }
    return dir;
}

}  // namespace pershome::homework
