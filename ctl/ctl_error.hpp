// pershomectl's one error convention: a failing step returns a CtlError (an
// exit code from pershomectl(1) and a sentence for the user) through
// tl::expected; main prints the sentence and exits with the code.
#pragma once

#include <tl/expected.hpp>

#include <string>

namespace pershome::ctl {

// Exit codes, documented in pershomectl(1), EXIT STATUS.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;       // the operation failed or was refused
inline constexpr int kExitUsage = 2;        // bad command line
inline constexpr int kExitUnreachable = 3;  // no bus, no pershomed, or no ssh to the host
inline constexpr int kExitCatchUp = 4;      // check: only what a pulled stick leaves
inline constexpr int kExitDamage = 5;       // check: damaged metadata

struct CtlError {
    int exit_code = kExitFailed;
    std::string message;
};

template <typename T>
using Result = tl::expected<T, CtlError>;

inline tl::unexpected<CtlError> fail(std::string message, int exit_code = kExitFailed) {
    return tl::unexpected(CtlError{exit_code, std::move(message)});
}

}  // namespace pershome::ctl
