#include "tests/ctl/run_ctl.hpp"

#include <sys/wait.h>

#include "tests/support/process.hpp"

namespace pershome::test {

CtlRun run_ctl(const std::vector<std::string>& args, const std::vector<std::string>& extra_env,
               bool as_nobody) {
    std::vector<std::string> argv;
    if (as_nobody) argv = {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"};
    argv.push_back(PERSHOMECTL_PATH);
    argv.insert(argv.end(), args.begin(), args.end());
    auto env = clean_environment();
    for (const auto& extra : extra_env) {
        const std::string key = extra.substr(0, extra.find('=') + 1);
        std::erase_if(env, [&](const std::string& e) { return e.starts_with(key); });
        env.push_back(extra);
    }
    Child child;
    child.start(argv, env);
    child.close_stdin();
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    child.read_until(deadline);
    const int st = child.wait(deadline);
    CtlRun run;
    run.status = st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    run.out = child.out_text;
    run.err = child.err_text;
    return run;
}

}  // namespace pershome::test
