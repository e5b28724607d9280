#include "daemon/tmphome.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/core.h>

#include "common/bus_names.hpp"
#include "common/unique_fd.hpp"
#include "homework/home_dir.hpp"
#include "homework/home_path.hpp"
#include "homework/skel_copy.hpp"
#include "homework/tree_remove.hpp"

namespace pershome {
namespace {

OpError err(const char* name, std::string message) {
    return OpError{name, std::move(message)};
}

std::vector<std::string> split_components(const std::string& rel) {
    std::vector<std::string> parts;
    size_t start = 0;
    while (start <= rel.size()) {
        size_t slash = rel.find('/', start);
        if (slash == std::string::npos) slash = rel.size();
        if (slash > start) parts.push_back(rel.substr(start, slash - start));
        start = slash + 1;
    }
    return parts;
}

// Opens (creating if asked) the directories between the root and the home.
// They belong to root: a user-owned or world-writable one could be swapped
// for a symlink under our feet, so it is refused.
tl::expected<UniqueFd, OpError> open_parent(int root_fd, const std::string& root,
                                            const std::vector<std::string>& parts, bool create) {
    UniqueFd cur(fcntl(root_fd, F_DUPFD_CLOEXEC, 0));
    std::string shown = root;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
        shown += "/" + parts[i];
        if (create && mkdirat(cur.get(), parts[i].c_str(), 0755) < 0 && errno != EEXIST) {
            return tl::unexpected(err(bus::kErrorFailed,
                                      fmt::format("cannot create {}: {}", shown, strerror(errno))));
        }
        UniqueFd next(
            openat(cur.get(), parts[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!next) {
            int e = errno;
            if (e == ENOENT && !create) return UniqueFd();
            return tl::unexpected(err(bus::kErrorHomeUnsafe,
                                      fmt::format("cannot open {} as a directory without following "
                                                  "symlinks: {}",
                                                  shown, strerror(e))));
        }
        struct stat st {};
        if (fstat(next.get(), &st) < 0 || st.st_uid != 0 || (st.st_mode & 022) != 0) {
            return tl::unexpected(
                err(bus::kErrorHomeUnsafe,
                    fmt::format("{} must be a directory owned by root and not writable by group or "
                                "others",
                                shown)));
        }
        cur = std::move(next);
    }
    return cur;
}

// Removes PARENT/NAME if it is a real directory owned by UID. Returns the
// log note; an error if it is something else or could not be removed whole.
tl::expected<std::string, OpError> remove_existing(int parent, const std::string& name,
                                                   const std::string& home, uid_t uid,
                                                   bool must_be_complete) {
    struct stat st {};
    if (fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT) return std::string();
        return tl::unexpected(
            err(bus::kErrorFailed, fmt::format("cannot inspect {}: {}", home, strerror(errno))));
    }
    if (S_ISLNK(st.st_mode)) {
        return tl::unexpected(
            err(bus::kErrorHomeUnsafe, fmt::format("{} is a symbolic link; left untouched", home)));
    }
    if (!S_ISDIR(st.st_mode)) {
        return tl::unexpected(
            err(bus::kErrorHomeUnsafe, fmt::format("{} is not a directory; left untouched", home)));
    }
    if (st.st_uid != uid) {
        return tl::unexpected(err(bus::kErrorHomeUnsafe,
                                  fmt::format("{} belongs to uid {}, not to uid {}; left untouched",
                                              home, st.st_uid, uid)));
    }
    homework::RemoveOptions opts;
    opts.expected_uid = uid;
    auto removed = homework::remove_tree(parent, name, opts);
    if (!removed) {
        return tl::unexpected(
            err(bus::kErrorFailed, fmt::format("cannot remove {}: {}", home, removed.error())));
    }
    if (removed->top_removed) return std::string();
    // Something stayed: a mount inside (left on purpose) or entries that
    // could not be removed (an immutable file, say). Name them.
    std::string note = fmt::format("{} was not removed completely:", home);
    if (!removed->skipped_mounts.empty()) {
        std::string list;
        for (const auto& m : removed->skipped_mounts) {
            list += (list.empty() ? "" : ", ") + home + "/" + m;
        }
        note += " mount point(s) left in place: " + list + ";";
    }
    if (removed->failure_count > 0) {
        note += fmt::format(" {} entr{} could not be removed", removed->failure_count,
                            removed->failure_count == 1 ? "y" : "ies");
        for (size_t i = 0; i < removed->failures.size() && i < 5; ++i) {
            note += (i == 0 ? ": " : ", ") + removed->failures[i];
        }
    }
    if (must_be_complete) return tl::unexpected(err(bus::kErrorHomeUnsafe, note));
    return note;
}

}  // namespace

tl::expected<std::string, OpError> check_tmphome_applies(const UserInfo& user,
                                                         const std::string& root) {
    auto opened = homework::open_tmphome_root(root);
    if (!opened) return tl::unexpected(err(bus::kErrorBadTmphomeRoot, opened.error()));
    if (user.home.empty() || user.home[0] != '/') {
        return tl::unexpected(
            err(bus::kErrorNotApplicable, fmt::format("home of {} is not absolute", user.name)));
    }
    if (!homework::relative_below(opened->path, user.home)) {
        return tl::unexpected(
            err(bus::kErrorNotApplicable, fmt::format("home {} of {} is not below tmphome root {}",
                                                      user.home, user.name, opened->path)));
    }
    return opened->path;
}

tl::expected<std::string, OpError> create_tmphome(const TmphomeSpec& spec) {
    auto root = homework::open_tmphome_root(spec.root);
    if (!root) return tl::unexpected(err(bus::kErrorBadTmphomeRoot, root.error()));
    auto rel = homework::relative_below(root->path, spec.user.home);
    if (!rel) {
        return tl::unexpected(
            err(bus::kErrorNotApplicable,
                fmt::format("home {} is not below {}", spec.user.home, root->path)));
    }
    const auto parts = split_components(*rel);
    const std::string home = root->path + "/" + *rel;
    auto parent = open_parent(root->fd.get(), root->path, parts, true);
    if (!parent) return tl::unexpected(parent.error());
    const std::string& name = parts.back();

    std::string note;
    // A home already there was left by a crash or an unclean shutdown: a
    // temporary home always starts fresh.
    auto wiped = remove_existing(parent->get(), name, home, spec.user.uid, true);
    if (!wiped) return tl::unexpected(wiped.error());

    auto made = homework::create_home_dir(parent->get(), name, spec.user.uid, spec.user.gid, 0700);
    if (!made) {
        return tl::unexpected(
            err(bus::kErrorFailed, fmt::format("cannot create {}: {}", home, made.error())));
    }
    UniqueFd home_fd = std::move(*made);

    UniqueFd skel_fd(open(spec.skel.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!skel_fd) {
        note = fmt::format("skeleton directory {} unusable ({}); {} starts empty", spec.skel,
                           strerror(errno), home);
    } else {
        auto copied =
            homework::copy_skel(skel_fd.get(), home_fd.get(), spec.user.uid, spec.user.gid);
        if (!copied) {
            home_fd.reset();
            (void)remove_existing(parent->get(), name, home, spec.user.uid, false);
            return tl::unexpected(
                err(bus::kErrorFailed,
                    fmt::format("cannot copy {} into {}: {}", spec.skel, home, copied.error())));
        }
    }
    // The final mode last, so the user never sees a half-filled home open.
    if (fchmod(home_fd.get(), 0777 & ~spec.umask) < 0) {
        return tl::unexpected(
            err(bus::kErrorFailed, fmt::format("cannot chmod {}: {}", home, strerror(errno))));
    }
    return note;
}

tl::expected<std::string, OpError> remove_tmphome(const std::string& root_path,
                                                  const std::string& home, uid_t uid) {
    auto root = homework::open_tmphome_root(root_path);
    if (!root) {
        return tl::unexpected(
            err(bus::kErrorBadTmphomeRoot, fmt::format("{}; {} not removed", root.error(), home)));
    }
    auto rel = homework::relative_below(root->path, home);
    if (!rel) {
        return tl::unexpected(
            err(bus::kErrorHomeUnsafe,
                fmt::format("{} is not below {}; not removed", home, root->path)));
    }
    const auto parts = split_components(*rel);
    auto parent = open_parent(root->fd.get(), root->path, parts, false);
    if (!parent) return tl::unexpected(parent.error());
    if (!*parent) return std::string();  // already gone
    return remove_existing(parent->get(), parts.back(), root->path + "/" + *rel, uid, false);
}

}  // namespace pershome
