// Small steps shared by the moves of a hard-linked file's data
// (link_groups.cpp, link_moves.cpp).
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

}  // namespace pershome::fs
