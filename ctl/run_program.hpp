// Runs a program of ours (pershome-fs) without a shell and collects what it
// prints.
#pragma once

#include <string>
#include <vector>

#include "ctl/ctl_error.hpp"

namespace pershome::ctl {

struct ProgramOutput {
    int exit_status = -1;  // -1: killed by a signal
    std::string out;       // stdout and stderr, interleaved as written
};

// ARGV[0] is a path. Inherits the environment.
Result<ProgramOutput> run_program(const std::vector<std::string>& argv);

// NAME in the directory of this executable (a build tree, or /usr/bin next
// to /usr/bin/pershomectl), else NAME as found on PATH, else "".
std::string find_companion(const std::string& name);

}  // namespace pershome::ctl
