// she-lab: runs a simulated oVirt engine for rehearsals.
//
//   she-lab serve SCENARIO [--dir DIR] [--address 127.0.0.1] [--port N] [--no-hosts]
//
// Makes DIR (default: a fresh directory under $TMPDIR), a CA and a server
// certificate in it, a random engine password in DIR/engine-password (0600),
// starts the HTTPS engine and prints, one per line, what an environment
// needs to reach it: the URL, the CA file, its fingerprint, the user and the
// password as a secret reference (never the value). Then (unless
// --no-hosts) it starts the scenario's hosts, each a real sshd on its own
// loopback address (lab/host_fleet.h): the world's hosts, `engine` (the
// engine VM) and `backup_storage`, and prints `host NAME ADDRESS PORT` for
// each, `ssh_key PATH`, `known_hosts PATH`, `ssh_user NAME`, and
// `environment PATH`: an environment file for plans (lab/lab_environment.h).
// Runs until
// SIGINT or SIGTERM, then stops cleanly.
//
// An Oracle VM scenario (a top-level `ovm:` map, examples/ovm/lab/) has no
// engine: it starts the manager's OS, its CLI port, the servers and backup
// storage (lab/ovm/ovm_lab.h), seeds them, and prints the same host,
// ssh_key, known_hosts, ssh_user and environment lines, so a plan's `lab:`
// key works for it as for an oVirt scenario.
#include <CLI/CLI.hpp>
#include <arpa/inet.h>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/durable_file.h"
#include "lab/engine_server.h"
#include "lab/host_fleet.h"
#include "lab/staged_disaster.h"
#include "lab/lab_environment.h"
#include "lab/lab_pki.h"
#include "lab/ovm/ovm_lab.h"
#include "lab/scenario.h"
#include "lab/world.h"

namespace {

namespace fs = std::filesystem;

std::string random_password() {
  unsigned char bytes[18];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("no randomness for the engine password");
  static const char* alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
  std::string out;
  for (unsigned char b : bytes) out += alphabet[b % 57];
  return out;
}

fs::path make_dir(const std::string& requested) {
  if (!requested.empty()) {
    fs::create_directories(requested);
    ::chmod(requested.c_str(), 0700);
    return fs::absolute(requested);
  }
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/she-lab.XXXXXX";
  if (!::mkdtemp(pattern.data())) throw std::runtime_error("cannot make a temporary directory");
  return pattern;
}

bool is_ip(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

const char* const kDefaultAddress = "127.0.0.1";

sigset_t block_stop_signals() {
  // Blocked before any thread starts, so that only sigwait receives them and
  // the server threads never do.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

void print_fleet(const she::lab::HostFleet& fleet) {
  for (const auto& h : fleet.hosts()) std::cout << "host " << h.name << " " << h.address << " " << h.port << "\n";
  std::cout << "ssh_key " << fleet.client_key().string() << "\n"
            << "known_hosts " << fleet.known_hosts().string() << "\n"
            << "ssh_user " << fleet.user() << "\n";
}

int serve_ovm(const std::string& scenario_file, const std::string& dir_arg, const std::string& address, int port,
              bool hosts) {
  nlohmann::json scenario;
  try {
    scenario = she::lab::ovm::load_ovm_scenario(scenario_file);
  } catch (const std::runtime_error& e) {
    std::cerr << e.what() << "\n";
    return 3;
  }
  if (!hosts) {
    std::cerr << "she-lab: " << scenario_file << ": an Oracle VM scenario is its hosts (no engine); drop --no-hosts\n";
    return 2;
  }
  if (address != kDefaultAddress || port != 0) {
    // Said, not ignored: the hosts listen on loopback addresses of their own.
    std::cerr << "she-lab: " << scenario_file << ": an Oracle VM scenario has no engine to listen with --address or "
              << "--port (its manager's CLI and hosts listen on loopback); drop them\n";
    return 2;
  }
  sigset_t signals = block_stop_signals();
  const fs::path dir = make_dir(dir_arg);
  she::lab::HostFleet fleet;
  fleet.start(dir / "fleet", she::lab::ovm::ovm_fleet(scenario, 2), she::lab::HostFleet::default_agent_binary(), {});
  try {
    she::lab::ovm::seed_ovm_lab(scenario, fleet);
  } catch (const std::exception& e) {
    fleet.stop();
    std::cerr << "she-lab: " << scenario_file << ": " << e.what() << "\n";
    return 3;
  }
  const auto& cli = fleet.host("ovm_cli");
  std::cout << "listening ssh://" << cli.address << ":" << cli.port << " (the Oracle VM Manager CLI of "
            << cli.spec.hostname << ")\n";
  print_fleet(fleet);
  const fs::path env = dir / "environment.yaml";
  she::lab::ovm::write_ovm_environment(env, fleet);
  std::cout << "environment " << env.string() << "\n" << std::flush;
  int sig = 0;
  sigwait(&signals, &sig);
  fleet.stop();
  std::cerr << "she-lab: stopped (" << (sig == SIGINT ? "SIGINT" : "SIGTERM") << ")\n";
  return 0;
}

int serve(const std::string& scenario_file, const std::string& dir_arg, const std::string& address, int port,
          bool hosts) {
  if (she::lab::ovm::is_ovm_scenario(scenario_file)) return serve_ovm(scenario_file, dir_arg, address, port, hosts);
  she::lab::WorldState state;
  try {
    state = she::lab::load_scenario(scenario_file);
  } catch (const she::lab::ScenarioError& e) {
    std::cerr << e.what();
    return 3;
  }
  if (state.after_disaster && !hosts) {
    std::cerr << "she-lab: " << scenario_file << ": after_disaster stages a backup on the lab's hosts; drop --no-hosts\n";
    return 2;
  }
  sigset_t signals = block_stop_signals();

  const fs::path dir = make_dir(dir_arg);
  std::vector<std::string> ips;
  if (is_ip(address) && address != "0.0.0.0" && address != "::") ips.push_back(address);
  const she::lab::LabPki pki = she::lab::generate_lab_pki(dir, state.engine.fqdn, ips);
  const std::string password = random_password();
  std::string err;
  if (!she::write_file_durably((dir / "engine-password").string(), password + "\n", &err)) throw std::runtime_error(err);
  state.engine.admin_password = password;

  she::lab::World world(state);
  she::lab::LabEngineServer server(world, pki.files);
  const int bound = server.start(address, port);
  const bool v6 = address.find(':') != std::string::npos;
  std::cout << "listening https://" << (v6 ? "[" + address + "]" : address) << ":" << bound << "\n"
            << "ca_file " << pki.files.ca_file.string() << "\n"
            << "ca_fingerprint " << pki.ca_fingerprint << "\n"
            << "user " << state.engine.admin_user << "\n"
            << "password file:" << (dir / "engine-password").string() << "\n"
            << std::flush;

  she::lab::HostFleet fleet;
  if (hosts) {
    const std::string host_for_url = v6 ? "[" + address + "]" : (address == "0.0.0.0" ? "127.0.0.1" : address);
    try {
      fleet.start(dir / "fleet", she::lab::scenario_fleet(state), she::lab::HostFleet::default_agent_binary(),
                  server.agent_socket());
      for (const auto& [name, faults] : state.lab_hosts.faults) fleet.set_faults(name, faults + "\n");
      for (const auto& name : state.lab_hosts.unreachable) fleet.set_unreachable(name, true);
      world.set_host_machines(&fleet);
      if (state.after_disaster)
        std::cout << "staged backup "
                  << she::lab::stage_disaster(world, fleet, *state.after_disaster, she::lab::kLabBackupPath)
                  << " (failover " << state.after_disaster->failover << "); then the disaster: the engine is off\n";
    } catch (...) {
      server.stop();
      throw;
    }
    print_fleet(fleet);
    const fs::path env = dir / "environment.yaml";
    she::lab::write_lab_environment(env, state, fleet, "https://" + host_for_url + ":" + std::to_string(bound),
                                    pki.files.ca_file, dir / "engine-password");
    std::cout << "environment " << env.string() << "\n" << std::flush;
  }

  int sig = 0;
  sigwait(&signals, &sig);
  world.set_host_machines(nullptr);
  fleet.stop();
  server.stop();
  std::cerr << "she-lab: stopped (" << (sig == SIGINT ? "SIGINT" : "SIGTERM") << ")\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"she-lab: a simulated oVirt engine for rehearsing she-restore plans"};
  app.require_subcommand(1);
  std::string scenario, dir, address = kDefaultAddress;
  int port = 0;
  CLI::App* serve_cmd = app.add_subcommand("serve", "serve a scenario's engine over HTTPS until SIGINT/SIGTERM");
  serve_cmd->add_option("SCENARIO", scenario, "the scenario YAML file")->required();
  serve_cmd->add_option("--dir", dir, "where the CA, certificate, key and password go (default: a new temp dir)");
  serve_cmd->add_option("--address", address, "the address to listen on")->capture_default_str();
  serve_cmd->add_option("--port", port, "the port (0: any free port)")->capture_default_str()->check(CLI::Range(0, 65535));
  bool no_hosts = false;
  serve_cmd->add_flag("--no-hosts", no_hosts, "serve only the engine: no simulated hosts (sshd)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    return serve(scenario, dir, address, port, !no_hosts);
  } catch (const std::exception& e) {
    std::cerr << "she-lab: " << e.what() << "\n";
    return 1;
  }
}
