// Hostile input that never reaches a plan file's parser as text: a FIFO, a
// directory or a device named as the plan, alias bombs in --param, in an
// environment and in an answers file. Each runs the real binary and must be
// refused with exit 3, a positioned diagnostic with a kind and a hint,
// within the bounds (2 s, 100 MiB), without echoing a secret.
#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/yaml_reader.h"
#include "tests/test_support.h"
#include "workflows/plan.h"

using namespace she;
namespace fs = std::filesystem;

namespace {

struct Measured {
  int exit_code = -1;
  std::string output;
  double seconds = 0;
  long max_rss_kib = 0;
};

/// Runs she-restore with `args` from the source tree, its output to a file,
/// and measures it with wait4. A child still running after 10 s is killed
/// (and the test fails on its exit code), so no test leaves one behind.
Measured run_measured(const std::vector<std::string>& args, const fs::path& out) {
  Measured m;
  auto start = std::chrono::steady_clock::now();
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::chdir(SHE_SOURCE_DIR) != 0) _exit(127);
    int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, 0);
    std::vector<char*> argv = {const_cast<char*>(SHE_RESTORE_BINARY)};
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  rusage ru{};
  for (;;) {
    pid_t done = ::wait4(pid, &status, WNOHANG, &ru);
    if (done == pid) break;
    if (std::chrono::steady_clock::now() - start > std::chrono::seconds(10)) {
      ::kill(pid, SIGKILL);
      ::wait4(pid, &status, 0, &ru);
      break;
    }
    ::usleep(5000);
  }
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  m.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  m.max_rss_kib = ru.ru_maxrss;
  m.output = test::read_file(out);
  return m;
}

/// Nine levels of nine aliases each: 9^9 (387 million) values once expanded.
std::string alias_bomb_flow() {
  std::string s = "{l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]";
  for (int i = 1; i <= 9; ++i) {
    s += fmt::format(", l{}: &l{} [", i, i);
    for (int j = 0; j < 9; ++j) s += fmt::format("{}*l{}", j ? ", " : "", i - 1);
    s += "]";
  }
  return s + "}";
}

/// The checks every refusal here must pass.
void check_refused(const Measured& m, const std::string& where, const std::string& kind) {
  CAPTURE(m.output);
  CHECK(m.exit_code == 3);
  CHECK(m.output.find(where) != std::string::npos);
  CHECK(m.output.find("error[" + kind + "]") != std::string::npos);
  CHECK(m.output.find("\n  hint: ") != std::string::npos);
  CHECK(m.seconds < 2.0);
  CHECK(m.max_rss_kib < 100 * 1024);
  MESSAGE(fmt::format("{}: {:.3f} s, {} KiB", kind, m.seconds, m.max_rss_kib));
}

const std::vector<std::string> kEnv = {"--env", "examples/production/environment.yaml"};

}  // namespace

TEST_CASE("hostile input: a FIFO named as the plan is refused at once / never opened for reading") {
  test::TempDir dir;
  fs::path fifo = dir.path() / "plan.yaml";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  Measured m = run_measured({"validate", fifo.string()}, dir.path() / "out");
  check_refused(m, fifo.string() + ":1:1: error[not-a-file]: '" + fifo.string() + "' is a FIFO", "not-a-file");
  // A run and a rehearsal read the plan the same way (the lab check first).
  m = run_measured({"--dry-run", "--offline", fifo.string()}, dir.path() / "out");
  check_refused(m, fifo.string() + ":1:1", "not-a-file");
}

TEST_CASE("hostile input: a directory or a device named as the plan is refused") {
  test::TempDir dir;
  Measured m = run_measured({"validate", dir.path().string()}, dir.path() / "out");
  check_refused(m, dir.path().string() + ":1:1: error[not-a-file]", "not-a-file");
  CHECK(m.output.find("is a directory") != std::string::npos);
  m = run_measured({"validate", "/dev/zero"}, dir.path() / "out");
  check_refused(m, "/dev/zero:1:1: error[not-a-file]: '/dev/zero' is a character device", "not-a-file");
}

TEST_CASE("hostile input: an environment named in a plan that is a FIFO is refused where the plan names it") {
  test::TempDir dir;
  REQUIRE(::mkfifo((dir.path() / "env.yaml").c_str(), 0600) == 0);
  test::write_file(dir.path() / "plan.yaml",
                   "plan: p\nenvironment: env.yaml\nsteps:\n  - id: a\n    uses: ssh.probe\n"
                   "    with: {host: he1, command: [uptime]}\n");
  Measured m = run_measured({"validate", (dir.path() / "plan.yaml").string()}, dir.path() / "out");
  check_refused(m, (dir.path() / "plan.yaml").string() + ":2:14: error[not-a-file]", "not-a-file");
}

TEST_CASE("hostile input: an alias bomb in --param is refused before it expands") {
  test::TempDir dir;
  std::vector<std::string> args = {"validate", "plans/she-remove-nonoperational.yaml"};
  args.insert(args.end(), kEnv.begin(), kEnv.end());
  args.push_back("--param");
  args.push_back("keep=" + alias_bomb_flow());
  Measured m = run_measured(args, dir.path() / "out");
  check_refused(m, "--param keep:1:", "too-large");
  // A recursive alias, which yaml-cpp alone turns into a crash.
  args.back() = "keep=&a [he1, *a]";
  m = run_measured(args, dir.path() / "out");
  check_refused(m, "--param keep:1:10: error[recursive-alias]", "recursive-alias");
}

TEST_CASE("hostile input: an alias bomb in an environment file is refused at its line") {
  test::TempDir dir;
  std::string env = test::read_file(test::source_path("examples/production/environment.yaml"));
  env += "\n# hostile\n";
  fs::path file = dir.path() / "environment.yaml";
  test::write_file(file, "x-bomb: " + alias_bomb_flow() + "\n" + env);
  Measured m = run_measured({"validate", "plans/she-remove-nonoperational.yaml", "--env", file.string()},
                            dir.path() / "out");
  check_refused(m, file.string() + ":1:", "too-large");
}

TEST_CASE("hostile input: an alias bomb in an answers file is refused before anything runs") {
  test::TempDir dir;
  fs::path answers = dir.path() / "answers.yaml";
  test::write_file(answers, "fence: yes\nbomb: " + alias_bomb_flow() + "\n");
  std::vector<std::string> args = {"--answers", answers.string(), "--state-dir", (dir.path() / "state").string(),
                                   "plans/she-remove-nonoperational.yaml"};
  args.insert(args.end(), kEnv.begin(), kEnv.end());
  Measured m = run_measured(args, dir.path() / "out");
  check_refused(m, answers.string() + ":2:", "too-large");
  CHECK(m.output.find("nothing was run") != std::string::npos);
  CHECK_FALSE(fs::exists(dir.path() / "state"));
  // A FIFO as the answers file blocks nothing either.
  fs::remove(answers);
  REQUIRE(::mkfifo(answers.c_str(), 0600) == 0);
  m = run_measured(args, dir.path() / "out");
  check_refused(m, answers.string() + ":1:1: error[not-a-file]", "not-a-file");
}

TEST_CASE("hostile input: a password in api_url or a --param url is never echoed") {
  auto r = test::she_restore("validate tests/invalid/95-api-url-password.yaml");
  CHECK(r.exit_code == 3);
  CHECK(r.output.find("error[invalid-url]") != std::string::npos);
  CHECK(r.output.find("Url-Secret-77") == std::string::npos);
  r = test::she_restore("--dry-run --offline tests/invalid/100-url-param-password.yaml");
  CHECK(r.exit_code == 3);
  CHECK(r.output.find("error[invalid-url]") != std::string::npos);
  CHECK(r.output.find("Param-Secret-88") == std::string::npos);
}

TEST_CASE("yaml reader: size and nesting limits are positioned diagnostics") {
  Diagnostics d;
  YamlLimits small;
  small.max_bytes = 64;
  CHECK_FALSE(parse_yaml_text(std::string(100, 'a'), "big.yaml", d, small));
  REQUIRE(d.all().size() == 1);
  CHECK(d.all()[0].str().rfind("big.yaml:1:1: error[too-large]", 0) == 0);

  Diagnostics d2;
  CHECK(parse_yaml_text("a: [[[1]]]", "ok.yaml", d2));
  CHECK(d2.ok());
  YamlLimits shallow;
  shallow.max_depth = 3;
  CHECK_FALSE(parse_yaml_text("a: [[[1]]]", "deep.yaml", d2, shallow));
  REQUIRE(d2.all().size() == 1);
  CHECK(d2.all()[0].str().rfind("deep.yaml:1:6: error[too-large]", 0) == 0);

  // Aliases of complete nodes are fine, and count as what they repeat.
  Diagnostics d3;
  auto n = parse_yaml_text("a: &a [1, 2]\nb: [*a, *a]\n", "alias.yaml", d3);
  REQUIRE(n);
  CHECK((*n)["b"][1][1].as<int>() == 2);
  YamlLimits few;
  few.max_nodes = 8;
  CHECK_FALSE(parse_yaml_text("a: &a [1, 2]\nb: [*a, *a]\n", "alias.yaml", d3, few));
  REQUIRE(d3.all().size() == 1);
  CHECK(d3.all()[0].str().rfind("alias.yaml:2:5: error[too-large]", 0) == 0);
}

TEST_CASE("validation is linear / ten thousand steps validate") {
  test::TempDir dir;
  std::string plan = "plan: many\nenvironment: " + test::source_path("tests/invalid/env.yaml") +
                     "\nsteps:\n  - id: s0\n    uses: ssh.run\n    with: {host: he1, command: [uptime]}\n";
  for (int i = 1; i < 10000; ++i)
    plan += fmt::format("  - id: s{}\n    uses: ssh.run\n    with: {{host: he1, command: [echo, '${{steps.s{}.exit_status}}']}}\n",
                        i, i - 1);
  test::write_file(dir.path() / "plan.yaml", plan);
  auto start = std::chrono::steady_clock::now();
  Diagnostics d;
  auto loaded = load_plan((dir.path() / "plan.yaml").string(), {}, d);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  MESSAGE(fmt::format("10,000 steps validated in {:.2f} s", seconds));
  REQUIRE_MESSAGE(loaded, d.str());
  CHECK(loaded->steps.size() == 10000);
}
