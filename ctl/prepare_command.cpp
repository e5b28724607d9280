#include "ctl/prepare_command.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cerrno>
#include <filesystem>
#include <map>
#include <set>

#include "common/unique_fd.hpp"
#include "ctl/mounts.hpp"
#include "ctl/stick_look.hpp"
#include "ctl/table.hpp"
#include "homework/errno_text.hpp"

namespace pershome::ctl {
namespace {

namespace fs = std::filesystem;
using homework::errno_text;

// Why a stick cannot be prepared, for the user (the status is status_of's).
std::string refusal(const StickLook& s, const std::string& status) {
    const std::string p = terminal_text(s.path);
    if (status == "not-fat")
        return fmt::format(
            "{} is on a {} filesystem, not FAT: pershome keeps homes on FAT (vfat) or exFAT "
            "sticks, as they come from the shop. Nothing was changed (--force prepares it anyway)",
            p, s.fs_type.empty() ? "unknown" : terminal_text(s.fs_type));
    if (status == "not-top")
        return fmt::format(
            "{} is a folder inside the stick mounted at {}: pershome/ must be at the stick's "
            "top. Prepare {} instead",
            p, terminal_text(s.mount_point), terminal_text(s.mount_point));
    if (status == "blocked")
        return fmt::format("{}/pershome exists but is not a folder: rename or remove it first", p);
    if (status == "read-only")
        return fmt::format(
            "the stick at {} is read-only (is its lock switch on?): nothing was changed", p);
    if (status == "not-writable")
        return fmt::format(
            "you may not write to {}: nothing was changed (open the stick in the file manager, "
            "so that it is mounted for you)",
            p);
    return fmt::format("the stick at {} is full: {} free, a home needs at least {}", p,
                       human_size(s.free), human_size(kMinFreeBytes));
}

// A device node names the stick: prepare where it is mounted.
Result<std::string> mount_point_of_device(const std::string& node) {
    std::error_code ec;
    const std::string real = fs::canonical(node, ec);
    for (const auto& m : all_mounts()) {
        if (m.source == node || (!ec && m.source == real)) return m.target;
    }
    return fail(fmt::format(
        "{} is not mounted: open the stick in the file manager (or mount it read-write), then "
        "run pershomectl prepare MOUNTPOINT",
        terminal_text(node)));
}

Result<void> make_home_folder(const StickLook& s) {
    UniqueFd dir(::open(s.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir) return fail(fmt::format("{}: {}", terminal_text(s.path), errno_text(errno)));
    if (::mkdirat(dir.get(), "pershome", 0755) != 0 && errno != EEXIST)
        return fail(
            fmt::format("cannot make {}/pershome: {}", terminal_text(s.path), errno_text(errno)));
    // On the stick before we say so: a patron pulls it right after.
    if (::syncfs(dir.get()) != 0)
        return fail(fmt::format("cannot write {} to the stick: {}", terminal_text(s.path),
                                errno_text(errno)));
    return {};
}

}  // namespace

Result<int> prepare_command(const std::string& target, bool force) {
    std::string path = target;
    struct stat st {};
    if (::stat(target.c_str(), &st) == 0 && S_ISBLK(st.st_mode)) {
        auto mp = mount_point_of_device(target);
        if (!mp) return tl::unexpected(mp.error());
        path = *mp;
    }
    auto look = look_at(path);
    if (!look) return fail("prepare " + look.error().message);
    std::string status = status_of(*look);
    if (force && (status == "not-fat" || status == "not-top")) {
        fmt::print("{} is not a FAT stick's top ({}): preparing it anyway (--force).\n",
                   terminal_text(look->path), look->fs_type);
        look->fat = look->top = true;
        status = status_of(*look);
    }
    if (status == "prepared") {
        fmt::print("Already prepared: {}/pershome exists. Nothing was changed.\n",
                   terminal_text(look->path));
        return kExitOk;
    }
    if (status != "ready") return fail("prepare: " + refusal(*look, status));
    if (auto made = make_home_folder(*look); !made) return tl::unexpected(made.error());
    fmt::print(
        "Prepared {}: made the folder pershome/ ({}, writable, {} free of {}).\n"
        "At the next login on a pershome computer with this stick plugged in, the home is kept "
        "on it.\n",
        terminal_text(look->path), look->fs_type.empty() ? "unknown" : look->fs_type,
        human_size(look->free), human_size(look->total));
    return kExitOk;
}

int prepare_list(const std::optional<Snapshot>& snap) {
    std::map<std::string, std::string> labels;  // pershomed's sticks by device node
    if (snap)
        for (const auto& d : snap->devices)
            if (!d.node.empty()) labels[d.node] = d.label;
    std::set<std::string> seen;
    for (const auto& m : all_mounts()) {
        const bool media =
            m.target.rfind("/media/", 0) == 0 || m.target.rfind("/run/media/", 0) == 0;
        const auto known = labels.find(m.source);
        if (!media && known == labels.end()) continue;
        if (!seen.insert(m.target).second) continue;
        auto look = look_at(m.target);
        if (!look) continue;
        // A desktop names the mount point after the label; pershomed knows it.
        std::string label = fs::path(m.target).filename().string();
        if (known != labels.end() && !known->second.empty()) label = known->second;
        // Tabs and newlines in a label would break the lines: escaped.
        fmt::print("{}\t{}\t{}\t{}\t{}\n", terminal_text(m.target), terminal_text(label),
                   terminal_text(m.fs_type), human_size(look->free), status_of(*look));
    }
    return kExitOk;
}

}  // namespace pershome::ctl
