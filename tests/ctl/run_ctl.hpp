// Runs the real pershomectl binary as an admin would, and what it printed.
#pragma once

#include <string>
#include <vector>

namespace pershome::test {

struct CtlRun {
    int status = -1;  // exit status; -1 if it did not exit before the deadline
    std::string out, err;
};

// pershomectl ARGS in this process's environment minus preloads and bus
// addresses (clean_environment) plus EXTRA_ENV; as uid/gid 65534 (nobody)
// with AS_NOBODY. Waits up to 30 s.
CtlRun run_ctl(const std::vector<std::string>& args, const std::vector<std::string>& extra_env = {},
               bool as_nobody = false);

}  // namespace pershome::test
