// Tests that mount anything first move this process into a private mount
// namespace, so not one mount reaches the machine, whatever the test does.
#pragma once

namespace pershome::test {

// Idempotent; throws if the namespace cannot be made (not root?).
void enter_private_mount_namespace();

}  // namespace pershome::test
