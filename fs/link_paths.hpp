// Small steps shared by the moves of a hard-linked file's data
// (link_groups.cpp, link_moves.cpp, op_link.cpp, fs.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "fs/fs.hpp"

namespace pershome::fs {

// Group `pname`'s pool entry says its data is at `real` (a path from the
// backing root if `at_path`, else a pool file), leaving `prev` (or "").
void set_group_path(Fs& fs, DirState& p, const std::string& pname, const std::string& real,
                    const std::string& prev, bool at_path);
// The name in `home` (if given) whose backing file was at path `from`
// forgets it: the data left.
void forget_primary(Fs& fs, DirState* home, std::uint64_t id, const std::string& from);
// A backing name for `name` in `d` (its lock held) that nothing holds: the
// name itself if FAT can hold it, else a generated one.
std::optional<std::string> free_backing_name(Fs& fs, DirState& d, const std::string& name);
// After a backing rename of a hard-linked file's data to `name` in
// `to_dir`: vfat writes a move as two directory updates, so the file (which
// carries its clusters) and its new directory (which holds its long name)
// are synced first, then `from_dir` if given (>= 0), with no other write in
// between (exclusive_io). The first error; the caller logs it as `what`.
[[nodiscard]] int sync_moved(Fs& fs, OpLocks& l, int to_dir, const std::string& name, int from_dir,
                             const char* what);

}  // namespace pershome::fs
