#include "config/home_decision.hpp"

namespace pershome::config {

HomeDecision decide_home(const PersistentHomes& admin, std::string_view user,
                         const std::vector<std::string>& groups, const UserOptIn* opt_in) {
    static const RuleOptions kNothing;
    const RuleOptions& user_options = opt_in ? opt_in->options : kNothing;
    HomeDecision out;
    if (const Rule* rule = admin.match(user, groups)) {
        out.reason = admin.file + ":" + std::to_string(rule->line) + ": " + rule->subject();
        if (rule->negated) return out;
        out.persistent = true;
        out.options = resolve_options(rule->options, user_options);
        if (opt_in) out.reason += " + " + opt_in->file;
        return out;
    }
    if (opt_in) {
        out.persistent = true;
        out.options = resolve_options(kNothing, user_options);
        out.reason = opt_in->file;
        return out;
    }
    out.reason = "no rule and no opt-in";
    return out;
}

}  // namespace pershome::config
