// Scale figures: how she-restore grows with the engine's size. A lab engine
// (in-process, over HTTPS; no host machines: engine steps only) with N
// non-responsive hosts and a live SPM host; for N = 100, 250, 500:
//   - a dry run of a fence -> remove -> reinstall block over the hosts the
//     engine reports non-responsive;
//   - a real run of select + a fence -> remove block at concurrency 50.
// Each prints wall time, the engine requests it made and the child's peak
// RSS, so the growth shows; and the requests per host.
//
//   she-bench-scale [MAX_HOSTS]     (default 500)
//
// Figures only: nothing here asserts a time.
#include <cstdlib>
#include <filesystem>
#include <fmt/format.h>
#include <memory>
#include <string>
#include <vector>

#include "bench_process.h"
#include "lab/engine_server.h"
#include "lab/lab_pki.h"
#include "lab/scenario.h"
#include "lab/world.h"

using namespace she;
using namespace she::bench;

namespace {

constexpr const char* kPassword = "Bench-Password-7";

std::string scenario_yaml(int hosts) {
  std::string y =
      "scenario: bench-scale\n"
      "engine: {fqdn: engine.example.com, version: 4.5.6, health: up, user: admin@internal}\n"
      "data_centers: [{name: Default, status: up}]\n"
      "clusters: [{name: Default, data_center: Default}]\n"
      "hosts:\n"
      "  - {name: host_spm, address: spm.example.com, status: up, spm: true, spm_priority: 10}\n";
  for (int i = 1; i <= hosts; ++i)
    y += fmt::format("  - {{name: host_{:04}, address: host{:04}.example.com, status: non_responsive}}\n", i, i);
  y += "durations: {maintenance: 1, activate: 0.5, install: 1, start_vm: 0.5}\ntime_scale: 1\n";
  return y;
}

// The procedure both runs use: the dry run shows all of it, the real run
// stops after the removal (`runs_in` keeps the reinstall to rehearsals: the
// hosts have no machines to install).
const char* kProcedure = R"(procedure: bench-scale
params:
  concurrency: {type: int, default: 50}
steps:
  - id: select
    uses: engine.hosts.select
    with: {status: [non_responsive]}
  - id: replace
    foreach: {items: '${steps.select.hosts}', as: host}
    concurrency: ${params.concurrency}
    steps:
      - id: fence
        uses: engine.host.fence_manual
        with: {host: '${host}'}
      - id: remove
        uses: engine.host.remove
        with: {host: '${host}', force: true}
      - id: reinstall
        uses: engine.host.add
        runs_in: [rehearsal]
        with: {name: '${host.name}', address: '${host.address}'}
)";

struct Figures {
  ProcessResult r;
  size_t requests = 0;
};

/// A fresh engine with `hosts` dead hosts; runs she-restore with `flags`.
Figures run(int hosts, const std::string& flags) {
  TempDir dir("she-bench-scale");
  lab::World world;
  world.reset(lab::parse_scenario(scenario_yaml(hosts), "bench-scale scenario"));
  world.set_admin_password(kPassword);
  lab::LabPki pki = lab::generate_lab_pki(dir.path() / "pki", "engine.example.com");
  auto server = std::make_unique<lab::LabEngineServer>(world, pki.files);
  std::string url = "https://127.0.0.1:" + std::to_string(server->start("127.0.0.1", 0)) + "/ovirt-engine/api";
  write_file(dir.path() / "engine-password", std::string(kPassword) + "\n");
  std::filesystem::permissions(dir.path() / "engine-password", std::filesystem::perms::owner_read);
  write_file(dir.path() / "bench-scale.yaml", kProcedure);
  // A rehearsal environment lets the dry run show the reinstall; the real
  // run's stops before it.
  write_file(dir.path() / "plan.yaml",
             fmt::format("plan: bench-scale-{}\nuses: ./bench-scale.yaml\nenvironment:\n  environment: bench\n"
                         "  mode: {}\n  engine:\n    fqdn: engine.example.com\n    api_url: {}\n"
                         "    user: admin@internal\n    password: file:{}\n    ca_file: {}\n"
                         "    datacenter: Default\n    cluster: Default\n",
                         hosts, flags == "--dry-run" ? "rehearsal" : "real", url,
                         (dir.path() / "engine-password").string(), pki.files.ca_file.string()));
  size_t before = server->request_log().all().size();
  Figures f;
  std::vector<std::string> args = {she_restore_binary(SHE_RESTORE_BINARY).string(), (dir.path() / "plan.yaml").string(),
                                   "--state-dir", (dir.path() / "state").string()};
  if (flags == "--dry-run") args = {args[0], "--dry-run", args[1]};
  else args.push_back(flags);
  f.r = run_process(args, {}, dir.path() / "log", std::chrono::seconds(900));
  f.requests = server->request_log().all().size() - before;
  if (const char* keep = std::getenv("SHE_BENCH_KEEP")) {
    std::filesystem::create_directories(keep);
    std::filesystem::copy(dir.path(), std::string(keep) + "/" + std::to_string(hosts) + (flags == "--dry-run" ? "-dry" : "-run"),
                          std::filesystem::copy_options::recursive | std::filesystem::copy_options::overwrite_existing);
  }
  server->stop();
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  int max_hosts = argc > 1 ? std::atoi(argv[1]) : 500;
  if (max_hosts < 1) {
    fmt::print(stderr, "usage: she-bench-scale [MAX_HOSTS > 0]\n");
    return 2;
  }
  fmt::print("scale bench: N non-responsive hosts on a lab engine (engine steps only)\n");
  fmt::print("  {:>5} | {:>28} | {:>40}\n", "hosts", "dry run (fence/remove/reinstall)",
             "run: select + fence -> remove, conc. 50");
  bool ok = true;
  for (int n : {100, 250, 500}) {
    if (n > max_hosts) break;
    Figures dry = run(n, "--dry-run");
    Figures real = run(n, "--yes");
    ok &= dry.r.exit_code == 0 && real.r.exit_code == 0;
    auto cell = [](const Figures& f, int hosts) {
      if (f.r.exit_code != 0) return fmt::format("exit {}", f.r.exit_code);
      return fmt::format("{:.2f} s, {} req ({:.1f}/host), {} MiB", f.r.seconds, f.requests,
                         static_cast<double>(f.requests) / hosts, f.r.peak_rss_kib / 1024);
    };
    fmt::print("  {:>5} | {:>28} | {:>40}\n", n, cell(dry, n), cell(real, n));
    for (const Figures* f : {&dry, &real})
      if (f->r.exit_code != 0) fmt::print("    output ends:\n{}\n", tail(f->r.output, 20));
    std::fflush(stdout);
  }
  return ok ? 0 : 1;
}
