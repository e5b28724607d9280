// Who called: every method but the properties is root's alone. The bus
// policy says so too; the daemon checks again, in case a policy was edited.
#pragma once

#include <sdbus-c++/sdbus-c++.h>

namespace pershome {

// Throws PermissionDenied (and logs it) unless the message OBJECT is
// handling now came from uid 0.
void require_root(sdbus::IObject& object, const char* method);

}  // namespace pershome
