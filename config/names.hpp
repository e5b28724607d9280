// Which user and group names a rule may name. Stricter than NSS, on purpose:
// a name that is not portable is more likely a typo than a real account.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pershome::config {

inline constexpr std::size_t kMaxNameBytes = 255;

// nullopt if `name` is acceptable as a user or group name, else why not.
// Accepted: 1..255 bytes of [A-Za-z0-9._-], "@" anywhere but first (SSSD's
// user@domain), "$" only last (Samba machine accounts); not starting with
// "-"; not "." or "..".
std::optional<std::string> name_problem(std::string_view name);

}  // namespace pershome::config
