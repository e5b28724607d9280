// Root without some of its powers, for tests of a daemon confined by its unit.
#pragma once

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

namespace pershome::homework::test {

/// Sets the effective capability set to exactly `keep`, so root loses what is not in it.
/// Call it in a forked child (see in_child): the test process keeps its powers.
inline bool restrict_capabilities(uint64_t keep) {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    if (::syscall(SYS_capget, &header, data) != 0) return false;
    data[0].effective &= static_cast<uint32_t>(keep);
    data[1].effective &= static_cast<uint32_t>(keep >> 32);
    return ::syscall(SYS_capset, &header, data) == 0;
}

/// Root that must obey permission bits (no CAP_DAC_OVERRIDE, no CAP_DAC_READ_SEARCH).
inline bool drop_dac_override() {
    const uint64_t dac = (1ULL << CAP_DAC_OVERRIDE) | (1ULL << CAP_DAC_READ_SEARCH);
    return restrict_capabilities(~0ULL & ~dac);
}

}  // namespace pershome::homework::test
