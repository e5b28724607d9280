#include "daemon/tmphome.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/core.h>

#include "common/bus_names.hpp"
#include "common/unique_fd.hpp"
#include "homework/errno_text.hpp"
#include "homework/home_dir.hpp"
#include "homework/home_path.hpp"
#include "homework/skel_copy.hpp"
#include "homework/tree_remove.hpp"

namespace pershome {
namespace {

OpError err(const char* name, std::string message) {
    return OpError{name, std::move(message)};
}

// The directory that holds the home, walked with homework's walker: every
// directory between the root and the home must be root's and not writable by
// others, or its entries could be swapped under our feet. With CREATE, missing
// ones are made; without, a missing one means the home is gone: an empty fd.
tl::expected<UniqueFd, OpError> open_parent(const homework::TmphomeRoot& root,
                                            const std::string& rel, bool create) {
    const auto slash = rel.rfind('/');
    const std::string parent = slash == std::string::npos ? "" : rel.substr(0, slash);
    auto dir = homework::open_dir_below(
        root.fd.get(), parent, {.create = create, .root_owned = true, .shown_base = root.path});
    if (dir) return std::move(*dir);
    switch (dir.error().kind) {
        case homework::WalkFailure::kMissing:
            if (!create) return UniqueFd();
            break;
        case homework::WalkFailure::kUnsafe:
            return tl::unexpected(err(bus::kErrorHomeUnsafe, dir.error().message));
        case homework::WalkFailure::kFailed:
            break;
    }
    return tl::unexpected(err(bus::kErrorFailed, dir.error().message));
}

std::string entry_name(const std::string& rel) {
    const auto slash = rel.rfind('/');
    return slash == std::string::npos ? rel : rel.substr(slash + 1);
}

// Whether a home found in place may be removed as UID's: it is UID's, or root
// made it 0700 and a crash stopped the copy before the home was handed over.
bool removable_as(const struct stat& st, uid_t uid) {
    return st.st_uid == uid || (st.st_uid == 0 && (st.st_mode & 07777) == 0700);
}

// Removes PARENT/NAME if it is a real directory owned by UID (or a half-made
// one of root's, see removable_as). Returns the
// log note; an error if it is something else or could not be removed whole.
tl::expected<std::string, OpError> remove_existing(int parent, const std::string& name,
                                                   const std::string& home, uid_t uid,
                                                   bool must_be_complete) {
    struct stat st {};
    if (fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT) return std::string();
        return tl::unexpected(err(bus::kErrorFailed, fmt::format("cannot inspect {}: {}", home,
                                                                 homework::errno_text(errno))));
    }
    if (S_ISLNK(st.st_mode)) {
        return tl::unexpected(
            err(bus::kErrorHomeUnsafe, fmt::format("{} is a symbolic link; left untouched", home)));
    }
    if (!S_ISDIR(st.st_mode)) {
        return tl::unexpected(
            err(bus::kErrorHomeUnsafe, fmt::format("{} is not a directory; left untouched", home)));
    }
    if (!removable_as(st, uid)) {
        return tl::unexpected(err(bus::kErrorHomeUnsafe,
                                  fmt::format("{} belongs to uid {}, not to uid {}; left untouched",
                                              home, st.st_uid, uid)));
    }
    homework::RemoveOptions opts;
    opts.expected_uid = st.st_uid;  // checked again on the opened directory
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

// Copies skel into the home held by HOME_FD. A skel that cannot be opened
// leaves the home empty and says so in NOTE; a failed copy is an error.
tl::expected<void, OpError> fill_from_skel(int home_fd, const TmphomeSpec& spec,
                                           const std::string& home, std::string& note) {
    UniqueFd skel_fd(open(spec.skel.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!skel_fd) {
        note = fmt::format("skeleton directory {} unusable ({}); {} starts empty", spec.skel,
                           homework::errno_text(errno), home);
        return {};
    }
    auto copied = homework::copy_skel(skel_fd.get(), home_fd, spec.user.uid, spec.user.gid);
    if (!copied) {
        return tl::unexpected(err(bus::kErrorFailed, fmt::format("cannot copy {} into {}: {}",
                                                                 spec.skel, home, copied.error())));
    }
    return {};
}

// The home to its user, last: owner, then the final mode, through the fd.
tl::expected<void, OpError> give_to_user(int home_fd, const TmphomeSpec& spec,
                                         const std::string& home) {
    auto given = homework::hand_over(home_fd, spec.user.uid, spec.user.gid, 0777 & ~spec.umask);
    if (!given) {
        return tl::unexpected(
            err(bus::kErrorFailed, fmt::format("cannot hand {} over: {}", home, given.error())));
    }
    return {};
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
    const std::string home = root->path + "/" + *rel;
    auto parent = open_parent(*root, *rel, true);
    if (!parent) return tl::unexpected(parent.error());
    const std::string name = entry_name(*rel);

    // A home already there was left by a crash or an unclean shutdown: a
    // temporary home always starts fresh.
    auto wiped = remove_existing(parent->get(), name, home, spec.user.uid, true);
    if (!wiped) return tl::unexpected(wiped.error());

    // Root's and 0700 while skel goes in: a process the user left running
    // cannot reach inside to swap what root is about to chown.
    auto made = homework::create_home_dir(parent->get(), name);
    if (!made) {
        return tl::unexpected(
            err(bus::kErrorFailed, fmt::format("cannot create {}: {}", home, made.error())));
    }
    UniqueFd home_fd = std::move(*made);
    std::string note;
    auto filled = fill_from_skel(home_fd.get(), spec, home, note);
    if (filled) filled = give_to_user(home_fd.get(), spec, home);
    if (!filled) {
        home_fd.reset();
        // (void): the copy's error is the one to report; whatever stays is
        // wiped at the next login, or named then if it cannot be.
        (void)remove_existing(parent->get(), name, home, spec.user.uid, false);
        return tl::unexpected(filled.error());
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
    auto parent = open_parent(*root, *rel, false);
    if (!parent) return tl::unexpected(parent.error());
    if (!*parent) return std::string();  // already gone
    return remove_existing(parent->get(), entry_name(*rel), root->path + "/" + *rel, uid, false);
}

}  // namespace pershome
