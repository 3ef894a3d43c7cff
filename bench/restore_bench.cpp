// Restore figures: wall time of the shipped failover restore
// (plans/she-restore-failover.yaml) against the lab at time scale 1, on 3
// hosted-engine hosts + 20 regular hosts, compared with the critical-path
// lower bound the scenario's durations give, and with the same plan at other
// reinstall concurrencies. Each measured run gets a fresh lab (engine over
// HTTPS in-process, every host a real sshd on loopback), runs she-backup,
// applies the failover disaster, then times she-restore as a child process;
// each concurrency's figure is the median of three such runs.
//
// Then the site-loss figure: she-remove-nonoperational over 20 dead
// hosted-engine hosts at concurrency 10 against concurrency 1.
//
//   she-bench-restore [INSTALL_SECONDS]     (default 3)
//
// Figures only: nothing here asserts a time.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "base/clock.h"
#include "bench_process.h"
#include "lab/engine_server.h"
#include "lab/host_fleet.h"
#include "lab/lab_environment.h"
#include "lab/lab_pki.h"
#include "lab/scenario.h"
#include "lab/staged_disaster.h"
#include "lab/world.h"

using namespace she;
using namespace she::bench;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kHostedEngineHosts = 3;
constexpr int kRegularHosts = 20;
constexpr const char* kPassword = "Bench-Password-7";
constexpr const char* kFailover = "hosted_engine_1";    // the environment's failover role (no engine VM)
// VMs that ran on the dead hosted-engine hosts: fenced down, started again
// by the restore's start-vms step once they are fenced (vms-up waits for them).
const std::vector<std::string> kHighPriorityVms = {"web02", "app01", "app02"};

/// The scenario: one data center and cluster, hosted_engine_1..3 (the
/// engine VM on hosted_engine_2), host_4..host_23 regular (host_4 the SPM),
/// VMs spread over them.
std::string scenario_yaml(const lab::Durations& d) {
  std::string y =
      "scenario: bench-restore\n"
      "description: 3 hosted-engine hosts and 20 regular hosts, before a backup\n"
      "engine: {fqdn: engine.example.com, version: 4.5.6, health: up, user: admin@internal}\n"
      "data_centers: [{name: Default, status: up}]\n"
      "clusters: [{name: Default, data_center: Default}]\n"
      "hosts:\n";
  for (int i = 1; i <= kHostedEngineHosts + kRegularHosts; ++i) {
    const bool he = i <= kHostedEngineHosts;
    y += fmt::format("  - {{name: {}, address: host{}.example.com, hardware_id: 4c4c4544-{:04}-3510-8033-b3c04f4e3132, "
                     "status: up",
                     he ? fmt::format("hosted_engine_{}", i) : fmt::format("host_{}", i), i, i);
    if (he) y += fmt::format(", hosted_engine: {{host_id: {}, score: 3400}}", i);
    if (i == kHostedEngineHosts + 1) y += ", spm: true, spm_priority: 10";
    y += "}\n";
  }
  y += "vms:\n"
       "  - {name: HostedEngine, host: hosted_engine_2, status: up, hosted_engine_vm: true}\n"
       "  - {name: db01, host: hosted_engine_1, status: up}\n"
       "  - {name: web01, host: hosted_engine_1, status: up}\n"
       "  - {name: web02, host: hosted_engine_2, status: up}\n"
       "  - {name: app01, host: hosted_engine_3, status: up}\n"
       "  - {name: app02, host: hosted_engine_3, status: up}\n"
       "  - {name: build01, status: down}\n";
  for (int i = kHostedEngineHosts + 1; i <= kHostedEngineHosts + kRegularHosts; ++i)
    y += fmt::format("  - {{name: vm{:02}, host: host_{}, status: up}}\n", i, i);
  y += fmt::format("durations: {{maintenance: {}, activate: {}, install: {}, start_vm: {}}}\n", d.maintenance,
                   d.activate, d.install, d.start_vm);
  y += "time_scale: 1\n";
  return y;
}

/// One fresh lab: the engine in-process over HTTPS and every host a real
/// sshd on loopback, with the environment file the plans use. Members go in
/// reverse order: the fleet stops before the engine server, and the
/// directory goes last.
struct BenchLab {
  TempDir dir{"she-bench-restore"};
  lab::WorldState state;
  lab::World world;
  lab::LabPki pki;
  std::unique_ptr<lab::LabEngineServer> server;
  std::string url;
  lab::HostFleet fleet;
  fs::path environment;

  explicit BenchLab(const lab::WorldState& st) : state(st) {
    world.reset(state);
    world.set_admin_password(kPassword);
    pki = lab::generate_lab_pki(dir.path() / "pki", state.engine.fqdn);
    server = std::make_unique<lab::LabEngineServer>(world, pki.files);
    url = "https://127.0.0.1:" + std::to_string(server->start("127.0.0.1", 0));
    fleet.start(dir.path() / "fleet", lab::scenario_fleet(state, 150), lab::HostFleet::default_agent_binary(),
                server->agent_socket());
    fs::path password = dir.path() / "engine-password";
    write_file(password, std::string(kPassword) + "\n");
    fs::permissions(password, fs::perms::owner_read | fs::perms::owner_write);
    environment = dir.path() / "environment.yaml";
    lab::write_lab_environment(environment, state, fleet, url, pki.files.ca_file, password);
    world.set_host_machines(&fleet);
  }
  ~BenchLab() {
    world.set_host_machines(nullptr);  // before the fleet stops
    fleet.stop();
    if (server) server->stop();
  }
  BenchLab(const BenchLab&) = delete;
  BenchLab& operator=(const BenchLab&) = delete;

  ProcessResult run(const std::string& name, const std::string& uses, const std::string& with = "") {
    fs::path plan = dir.path() / (name + ".yaml");
    write_file(plan, "plan: " + name + "\nuses: " + uses + "\nenvironment: " + environment.string() + "\n" +
                         (with.empty() ? "" : "with:\n" + with));
    return run_process({she_restore_binary(SHE_RESTORE_BINARY).string(), plan.string(), "--yes", "--state-dir",
                        (dir.path() / "state").string()},
                       {"ENGINE_VM_ROOT_PASSWORD=x"}, dir.path() / (name + ".log"), std::chrono::seconds(600));
  }

  std::string stored_backup() const {
    for (auto& e : fs::directory_iterator(fleet.host("backup_storage").sandbox / "srv/backups/engine"))
      if (e.path().extension() == ".backup") return e.path().filename().string();
    throw std::runtime_error("she-backup stored no archive");
  }

  /// The failover procedure's disaster (lab/staged_disaster.h).
  void disaster() { lab::apply_disaster(world, fleet, kFailover); }
};

struct RunFigures {
  int concurrency = 0;
  bool ok = false;
  double setup_s = 0, backup_s = 0, restore_s = 0;
  std::string slowest;  // the restore's slowest steps, from its report
  std::string critical;  // its critical path, from its report
  std::string timeline;  // its steps on the run's clock, from its report
  double reinstall_s = 0;  // its longest reinstall of one host
  std::string walls;       // every run's wall time, when this is the median of several
  double lab_deploy_s = -1;  // what the lab's deploy took itself, apart from its pause (-1: unknown)
};

/// What the lab's deploy on the failover host took itself, from its agent
/// log: from its unit's start to its pause, and from its resume to its end.
/// The bound counts the deploy as instant; the lab's engine-setup stand-in
/// restores the backup into its engine and adds the host, which takes time
/// she-restore can only wait for. -1 when the log does not tell.
double lab_deploy_seconds(const fs::path& agent_log) {
  std::ifstream in(agent_log);
  long long started = -1, paused = -1, resumed = -1, ended = -1;
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object()) continue;
    const long long t = utc_ms(j.value("time", ""));
    if (j.value("unit", "") == "she-restore-deploy") (j.contains("exit") ? ended : started) = t;
    if (j.value("deploy", "") == "paused") paused = t;
    if (j.value("deploy", "") == "resumed") resumed = t;
  }
  if (started < 0 || paused < started || resumed < paused || ended < resumed) return -1;
  return static_cast<double>((paused - started) + (ended - resumed)) / 1000.0;
}

/// Runs per concurrency: a single run varies by ~0.1 s on a 2-core VM
/// (the lab's hosts and engine share the cores with she-restore), as much
/// as the overhead being measured; the figure is the median run.
constexpr int kRunsEach = 3;

/// The run's report.json, next to the report.md its last lines name; null
/// with `why` when there is none.
nlohmann::json read_report(const std::string& output, std::string* why) {
  const std::string marker = "report: ";
  size_t at = output.rfind(marker);
  if (at == std::string::npos) return *why = "(no report named)", nullptr;
  std::string md = output.substr(at + marker.size());
  md = md.substr(0, md.find_first_of("\r\n"));
  fs::path json_path = fs::path(md).replace_extension(".json");
  try {
    return nlohmann::json::parse(read_file(json_path));
  } catch (const std::exception&) {
    return *why = "(no report at " + json_path.string() + ")", nullptr;
  }
}

/// The critical path as the report tells it: its share acting, waiting for
/// the engine and between steps, and each step on it of 0.1 s or more.
std::string critical_path_of(const nlohmann::json& report) {
  const auto& cp = report.value("critical_path", nlohmann::json::object());
  auto s = [&](const char* key) { return cp.value(key, 0LL) / 1000.0; };
  std::string chain;
  for (const auto& c : cp.value("steps", nlohmann::json::array()))
    if (c.value("ms", 0LL) >= 100)
      chain += fmt::format("{}{} {:.1f} s", chain.empty() ? "" : ", ", c.value("step", std::string("?")),
                           c.value("ms", 0LL) / 1000.0);
  return fmt::format("{:.1f} s: acting {:.1f} s, waiting {:.1f} s, between steps {:.1f} s; steps of 0.1 s or more: {}",
                     s("span_ms"), s("acting_ms"), s("waiting_ms"), s("between_steps_ms"), chain);
}

/// The steps in the order they began, each as "+START-END ms id" from the
/// first step's start (a foreach step: its first iteration's start to its
/// last one's end): where the time between the steps that count goes.
std::string timeline_of(const nlohmann::json& report) {
  struct Span {
    long long a, b;
    std::string id;
  };
  std::vector<Span> spans;
  for (const auto& s : report.value("steps", nlohmann::json::array())) {
    long long a = -1, b = -1;
    for (const auto& it : s.value("iterations", nlohmann::json::array())) {
      const long long x = utc_ms(it.value("started", "")), y = utc_ms(it.value("finished", ""));
      if (x < 0 || y < x) continue;
      a = a < 0 ? x : std::min(a, x);
      b = std::max(b, y);
    }
    if (a >= 0) spans.push_back({a, b, s.value("id", std::string("?"))});
  }
  if (spans.empty()) return "(no step ran)";
  std::sort(spans.begin(), spans.end(), [](const Span& x, const Span& y) { return x.a < y.a; });
  std::string out;
  for (const auto& s : spans)
    out += fmt::format("{}+{}-{} {}", out.empty() ? "" : ", ", s.a - spans[0].a, s.b - spans[0].a, s.id);
  return out;
}

/// The steps that took 0.3 s or more, slowest first, as "id S s" (a foreach
/// step: its iterations' total and count, and the longest one); the
/// longest iteration of step `longest_of` in `longest_s`.
std::string slowest_steps(const nlohmann::json& report, const std::string& longest_of = "",
                          double* longest_s = nullptr) {
  struct Step {
    std::string text;
    long long total_ms;
  };
  std::vector<Step> steps;
  for (const auto& s : report.value("steps", nlohmann::json::array())) {
    long long total = 0, longest = 0;
    int n = 0;
    for (const auto& it : s.value("iterations", nlohmann::json::array())) {
      const long long ms = it.value("duration_ms", 0LL);
      total += ms;
      longest = std::max(longest, ms);
      ++n;
    }
    if (longest_s && s.value("id", std::string()) == longest_of) *longest_s = longest / 1000.0;
    if (total < 300) continue;
    std::string text = fmt::format("{} {:.1f} s", s.value("id", std::string("?")), total / 1000.0);
    if (n > 1) text += fmt::format(" ({} x, longest {:.1f} s)", n, longest / 1000.0);
    steps.push_back({text, total});
  }
  std::sort(steps.begin(), steps.end(), [](const Step& a, const Step& b) { return a.total_ms > b.total_ms; });
  std::string out;
  for (const auto& s : steps) out += (out.empty() ? "" : ", ") + s.text;
  return out.empty() ? "(none over 0.3 s)" : out;
}

/// A fresh lab, she-backup, the disaster, then the timed restore.
RunFigures measure(const lab::WorldState& st, int concurrency) {
  RunFigures f;
  f.concurrency = concurrency;
  auto t = Clock::now();
  BenchLab lab(st);
  f.setup_s = std::chrono::duration<double>(Clock::now() - t).count();
  ProcessResult backup = lab.run("bench-backup", "she-backup", "  metrics_dir: ''\n");
  f.backup_s = backup.seconds;
  if (backup.exit_code != 0) {
    fmt::print("  concurrency {}: she-backup exited {}; its output ends:\n{}\n", concurrency, backup.exit_code,
               tail(backup.output, 30));
    return f;
  }
  lab.disaster();
  std::string vms;
  for (const auto& v : kHighPriorityVms) vms += (vms.empty() ? "" : ", ") + v;
  ProcessResult restore =
      lab.run("bench-restore", "she-restore-failover",
              fmt::format("  backup: {}\n  storage_connection: nfs.example.com:/exports/he\n  target_version: 4.5.6\n"
                          "  high_priority_vms: [{}]\n  reinstall_concurrency: {}\n",
                          lab.stored_backup(), vms, concurrency));
  f.restore_s = restore.seconds;
  if (restore.exit_code != 0) {
    fmt::print("  concurrency {}: she-restore exited {}; its output ends:\n{}\n", concurrency, restore.exit_code,
               tail(restore.output, 30));
    return f;
  }
  f.ok = true;
  std::string why;
  const nlohmann::json report = read_report(restore.output, &why);  // read once for the three
  if (report.is_null()) {
    f.slowest = f.critical = f.timeline = why;
  } else {
    f.slowest = slowest_steps(report, "reinstall", &f.reinstall_s);
    f.critical = critical_path_of(report);
    f.timeline = timeline_of(report);
  }
  f.lab_deploy_s = lab_deploy_seconds(lab.dir.path() / "fleet" / "hosts" / kFailover / "agent.log");
  return f;
}

/// Site loss: every hosted-engine host but one dead (non-responsive), the
/// restored engine on the survivor and a regular host as SPM, as a lost
/// site leaves them; she-remove-nonoperational brings them back.
constexpr int kSiteLossDead = 20;

std::string site_loss_yaml(const lab::Durations& d) {
  std::string y =
      "scenario: bench-site-loss\n"
      "description: 21 hosted-engine hosts, 20 of them lost with their site, and one regular host\n"
      "engine: {fqdn: engine.example.com, version: 4.5.6, health: up, user: admin@internal}\n"
      "data_centers: [{name: Default, status: up}]\n"
      "clusters: [{name: Default, data_center: Default}]\n"
      "hosts:\n";
  for (int i = 1; i <= kSiteLossDead + 1; ++i)
    y += fmt::format("  - {{name: hosted_engine_{}, address: he{}.example.com, status: {}, "
                     "hosted_engine: {{host_id: {}, score: {}}}}}\n",
                     i, i, i == 1 ? "up" : "non_responsive", i, i == 1 ? 3400 : 0);
  y += "  - {name: host_spm, address: spm.example.com, status: up, spm: true, spm_priority: 10}\n"
       "vms:\n"
       "  - {name: HostedEngine, host: hosted_engine_1, status: up, hosted_engine_vm: true}\n";
  y += fmt::format("durations: {{maintenance: {}, activate: {}, install: {}, start_vm: {}}}\n", d.maintenance,
                   d.activate, d.install, d.start_vm);
  y += "time_scale: 1\n";
  return y;
}

/// Seconds she-remove-nonoperational takes over the lost site at
/// `concurrency`, on a fresh lab; negative when it failed.
double site_loss_run(const lab::WorldState& st, int concurrency) {
  BenchLab lab(st);
  ProcessResult r = lab.run("bench-site-loss", "she-remove-nonoperational",
                            fmt::format("  keep: [hosted_engine_1]\n  concurrency: {}\n", concurrency));
  if (r.exit_code != 0) {
    fmt::print("  site loss, concurrency {}: she-restore exited {}; its output ends:\n{}\n", concurrency, r.exit_code,
               tail(r.output, 30));
    return -1;
  }
  std::string why;
  const nlohmann::json report = read_report(r.output, &why);
  fmt::print("  site loss, concurrency {}: {:.1f} s; steps over 0.3 s: {}\n", concurrency, r.seconds,
             report.is_null() ? why : slowest_steps(report));
  std::fflush(stdout);
  return r.seconds;
}

/// The site-loss figure: 20 dead hosted-engine hosts at concurrency 10
/// against concurrency 1 (each host fenced, removed, wiped and reinstalled
/// in one block, so a slot frees as soon as its host is done).
bool site_loss_figure(const lab::Durations& d) {
  const lab::WorldState st = lab::parse_scenario(site_loss_yaml(d), "bench-site-loss scenario");
  fmt::print("site loss: she-remove-nonoperational over {} dead hosted-engine hosts, install {} s, time scale {}\n",
             kSiteLossDead, st.durations.install, st.time_scale);
  std::fflush(stdout);
  double c10 = site_loss_run(st, 10);
  double c1 = site_loss_run(st, 1);
  if (c10 <= 0 || c1 <= 0) return false;
  const double bound10 = std::ceil(kSiteLossDead / 10.0) * st.durations.install * st.time_scale;
  fmt::print("site loss {} dead HE hosts: concurrency 10: {:.1f} s; concurrency 1: {:.1f} s; concurrency 1 / 10: "
             "{:.2f}x (target >= 8x); concurrency 10 against its critical path {:.1f} s (2 x install): {:.2f}x\n",
             kSiteLossDead, c10, c1, c1 / c10, bound10, c10 / bound10);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    lab::Durations d;
    d.maintenance = 1;
    d.activate = 0.5;
    d.install = argc > 1 ? std::atof(argv[1]) : 3;
    d.start_vm = 0.5;
    if (!(d.install > 0)) {
      fmt::print(stderr, "usage: she-bench-restore [INSTALL_SECONDS > 0]\n");
      return 2;
    }
    const lab::WorldState st = lab::parse_scenario(scenario_yaml(d), "bench-restore scenario");
    const double scale = st.time_scale;

    // The restore's critical path from the scenario's durations. The dead
    // hosts: every hosted-engine host but the failover one.
    int dead = 0;
    for (const auto& h : st.hosts)
      if (h.hosted_engine && h.name != kFailover) ++dead;
    // The high-priority VMs start once the dead hosts are fenced and boot
    // while those are reinstalled: the longer of the two bounds the run.
    auto bound = [&](int concurrency) {
      const int waves = concurrency <= 0 ? 1 : (dead + concurrency - 1) / concurrency;
      return std::max(waves * st.durations.install, kHighPriorityVms.empty() ? 0.0 : st.durations.start_vm) * scale;
    };
    const double critical = bound(0);

    fmt::print("restore bench: she-restore-failover on {} hosted-engine + {} regular hosts, lab time scale {}\n",
               kHostedEngineHosts, kRegularHosts, scale);
    fmt::print("  durations: maintenance {} s, activate {} s, install {} s, start_vm {} s\n", st.durations.maintenance,
               st.durations.activate, st.durations.install, st.durations.start_vm);
    fmt::print("  critical path of the restore (durations that cannot overlap, x time scale {}):\n", scale);
    fmt::print("    reinstall of the {} dead hosted-engine hosts, unbounded concurrency: 1 x install = {:.1f} s\n", dead,
               st.durations.install * scale);
    fmt::print("    start of the high-priority VMs ({}), started together once the dead hosts are fenced, booting\n"
               "    while those are reinstalled: 1 x start_vm = {:.1f} s, overlapped\n",
               kHighPriorityVms.size(), st.durations.start_vm * scale);
    fmt::print("    not counted: deploy and its host add (instant in the lab: the host is added up), fence and\n"
               "    remove (instant), data center/SPM (a regular host stays SPM), maintenance/activate (the\n"
               "    backup's, before the timed run); nor any SSH, HTTP or polling overhead\n");
    fmt::print("    lower bound: {:.1f} s, the longer of the two (concurrency 1: {} x install = {:.1f} s)\n", critical,
               dead, bound(1));
    std::fflush(stdout);

    std::vector<RunFigures> runs;
    for (int c : {2, 1, 4}) {
      std::vector<RunFigures> tries;
      for (int i = 0; i < kRunsEach; ++i) tries.push_back(measure(st, c));
      std::sort(tries.begin(), tries.end(), [](const RunFigures& a, const RunFigures& b) { return a.restore_s < b.restore_s; });
      RunFigures f = tries[tries.size() / 2];
      for (const auto& t : tries) {
        f.ok = f.ok && t.ok;  // a failed run fails the figure: its output was printed
        f.walls += fmt::format("{}{:.2f}", f.walls.empty() ? "" : ", ", t.restore_s);
      }
      runs.push_back(f);
      if (f.ok) {
        fmt::print("  concurrency {}: restore {:.2f} s wall, the median of {} runs ({} s) (its bound {:.1f} s, {:.2f}x); "
                   "lab start {:.1f} s, she-backup {:.1f} s (untimed)\n",
                   c, f.restore_s, kRunsEach, f.walls, bound(c), f.restore_s / bound(c), f.setup_s, f.backup_s);
        if (f.lab_deploy_s >= 0)
          fmt::print("    the lab's own deploy in the median run (its unit's start to its pause, its resume to its end; "
                     "instant in the bound): {:.2f} s\n",
                     f.lab_deploy_s);
        fmt::print("    the median run's steps over 0.3 s: {}\n", f.slowest);
        fmt::print("    its critical path (its report): {}\n", f.critical);
        fmt::print("    its steps, ms from the first one's start: {}\n", f.timeline);
      }
      std::fflush(stdout);
    }

    auto find = [&](int c) -> const RunFigures* {
      for (const auto& r : runs)
        if (r.concurrency == c && r.ok) return &r;
      return nullptr;
    };
    const RunFigures* c2 = find(2);
    const RunFigures* c1 = find(1);
    const RunFigures* c4 = find(4);
    std::string line = fmt::format("restore {} HE + {} hosts, time scale {}:", kHostedEngineHosts, kRegularHosts, scale);
    auto figure = [](const RunFigures* r) { return r ? fmt::format("{:.2f} s", r->restore_s) : std::string("failed"); };
    line += fmt::format(" concurrency 2: {}; concurrency 1: {}; concurrency 4: {}; critical path: {:.1f} s", figure(c2),
                        figure(c1), figure(c4), critical);
    if (c2) line += fmt::format("; ratio to critical path {:.2f}x", c2->restore_s / critical);
    if (c2 && c2->lab_deploy_s >= 0)
      line += fmt::format(" ({:.2f}x with the lab's own deploy, {:.2f} s, added to the bound)",
                          c2->restore_s / (critical + c2->lab_deploy_s), c2->lab_deploy_s);
    if (c1 && c2) line += fmt::format("; concurrency 1 / 2: {:.2f}x", c1->restore_s / c2->restore_s);
    if (c4 && c2)
      line += fmt::format("; concurrency 4 / 2: {:.2f}x (target: never slower than a lower concurrency, <= 1.0x "
                          "within the run-to-run noise)",
                          c4->restore_s / c2->restore_s);
    fmt::print("{}\n", line);
    if (c2 && c2->reinstall_s > 0)
      fmt::print("reinstall of one host whose install takes {:.1f} s: {:.1f} s, {:.2f}x its install (target <= 3.3 s "
                 "for a 3 s install, 1.10x)\n",
                 st.durations.install * scale, c2->reinstall_s, c2->reinstall_s / (st.durations.install * scale));
    std::fflush(stdout);
    bool site_loss = site_loss_figure(d);
    return site_loss && std::all_of(runs.begin(), runs.end(), [](const RunFigures& r) { return r.ok; }) ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "she-bench-restore: {}\n", e.what());
    return 1;
  }
}
