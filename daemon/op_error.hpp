// An operation's failure: a typed D-Bus error name (org.pershome1.Error.*)
// and a sentence written for the user at the terminal.
#pragma once

#include <string>

namespace pershome {

struct OpError {
    std::string name;
    std::string message;
};

}  // namespace pershome
