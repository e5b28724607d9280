#include "ctl/mounts.hpp"

#include <libmount/libmount.h>

#include <memory>

namespace pershome::ctl {
namespace {

struct TableFree {
    void operator()(libmnt_table* t) const { mnt_unref_table(t); }
};
struct IterFree {
    void operator()(libmnt_iter* i) const { mnt_free_iter(i); }
};
using TablePtr = std::unique_ptr<libmnt_table, TableFree>;

TablePtr mount_table() {
    TablePtr table(mnt_new_table());
    if (table && mnt_table_parse_mtab(table.get(), nullptr) != 0) table.reset();
    return table;
}

std::string text(const char* s) {
    return s ? s : "";
}

MountEntry entry(libmnt_fs* fs) {
    MountEntry e{text(mnt_fs_get_target(fs)), text(mnt_fs_get_source(fs)),
                 text(mnt_fs_get_fstype(fs)), false};
    e.read_only = mnt_optstr_get_option(mnt_fs_get_vfs_options(fs), "ro", nullptr, nullptr) == 0;
    return e;
}

}  // namespace

std::vector<MountEntry> all_mounts() {
    std::vector<MountEntry> out;
    TablePtr table = mount_table();
    std::unique_ptr<libmnt_iter, IterFree> it(mnt_new_iter(MNT_ITER_FORWARD));
    if (!table || !it) return out;
    libmnt_fs* fs = nullptr;
    while (mnt_table_next_fs(table.get(), it.get(), &fs) == 0) out.push_back(entry(fs));
    return out;
}

std::optional<MountEntry> mount_of(const std::string& path) {
    TablePtr table = mount_table();
    if (!table) return std::nullopt;
    libmnt_fs* fs = mnt_table_find_mountpoint(table.get(), path.c_str(), MNT_ITER_BACKWARD);
    if (!fs) return std::nullopt;
    return entry(fs);
}

}  // namespace pershome::ctl
