// pershome-fs --check [--repair]: verify the metadata of a backing tree
// without mounting it.
#pragma once

#include <sys/types.h>

#include <string>

namespace pershome::fs {

// Exit statuses of --check (pershome-fs(1), EXIT STATUS). They tell the
// catch-up every crash or pulled stick may leave (a mount settles it by
// itself) from damage no crash of ours leaves, so scripts can alarm on the
// latter only. With `repair` the status still says what was found.
inline constexpr int kCheckClean = 0;
inline constexpr int kCheckCatchUp = 1;  // only catch-up: backing files added, entries dropped
inline constexpr int kCheckDamage = 2;   // a damaged or sanitised index, a hidden file
inline constexpr int kCheckFailed = 3;   // could not check, or a repair failed

[[nodiscard]] int run_check(const std::string& backing, bool repair, mode_t umask);

}  // namespace pershome::fs
