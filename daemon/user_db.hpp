// User lookup through NSS, in-process (so nss_wrapper in tests and LDAP/sssd
// in production are seen the same way). May block on a network NSS module:
// call it from a worker, not the event loop.
#pragma once

#include <sys/types.h>

#include <string>
#include <tl/expected.hpp>

namespace pershome {

struct UserInfo {
    std::string name;
    uid_t uid = 0;
    gid_t gid = 0;
    std::string home;
};

[[nodiscard]] tl::expected<UserInfo, std::string> lookup_user(const std::string& name);

// An NSS module may set itself up on its first lookup without a lock
// (nss_wrapper does, and lookups racing it fail or crash): call this once,
// before any worker thread starts, so that first lookup is never a race.
void prime_user_db();

}  // namespace pershome
