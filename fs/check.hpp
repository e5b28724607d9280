// pershome-fs --check [--repair]: verify the metadata of a backing tree
// without mounting it.
#pragma once

#include <sys/types.h>

#include <string>

namespace pershome::fs {

// Returns 0 when clean, 1 when problems were found (and, with `repair`,
// fixed), 2 when the check itself could not run.
int run_check(const std::string& backing, bool repair, mode_t umask);

}  // namespace pershome::fs
