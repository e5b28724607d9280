// Tests that mount anything first move this process into a private mount
// namespace, so not one mount reaches the machine, whatever the test does.
#pragma once

namespace pershome::test {

// Idempotent; throws if the namespace cannot be made (not root?).
void enter_private_mount_namespace();

// In that namespace, an empty tmpfs on /tmp: whatever a program under test
// leaves there (pam_wrapper's /tmp/pam.X copies of a killed login, say)
// vanishes with the namespace. Put the test's own dir elsewhere (/var/tmp).
void mount_private_tmp();

}  // namespace pershome::test
