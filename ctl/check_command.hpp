// pershomectl check: pershome-fs --check on a stick's home folder, with its
// findings explained for an admin who has not read the on-stick format.
#pragma once

#include <string>

#include "ctl/ctl_error.hpp"

namespace pershome::ctl {

// Prints the explanation; returns kExitOk, kExitCatchUp or kExitDamage, or
// an error (kExitFailed) when nothing could be checked.
Result<int> check_command(const std::string& path, bool repair);

// One finding line of pershome-fs --check ("DIR: what") in plain words.
std::string explain_finding(const std::string& line);

}  // namespace pershome::ctl
