// What `pershomectl status`, `sessions` and `devices` print: aligned tables
// for people, JSON for scripts (the fields are listed in pershomectl(1)).
#pragma once

#include <string>

#include "ctl/daemon_client.hpp"

namespace pershome::ctl {

std::string sessions_table(const Snapshot& snap);
std::string devices_table(const Snapshot& snap);
std::string status_table(const Snapshot& snap, const std::string& where);

std::string sessions_json(const Snapshot& snap);
std::string devices_json(const Snapshot& snap);
// HOST: user@host of -H, or "" (null in the JSON) for this machine.
std::string status_json(const Snapshot& snap, const std::string& host);

}  // namespace pershome::ctl
