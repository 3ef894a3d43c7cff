// Engine client figures: parse time and memory of a 500-host all_content
// hosts listing; with a lab, request count and wall time of waiting for 50
// hosts to reach maintenance with adaptive polling (time scale 1), against
// fixed one-second polling measured in the same run.
#include <chrono>
#include <fmt/format.h>
#include <string>
#include <sys/resource.h>

#include <filesystem>
#include <thread>
#include <memory>
#include <unistd.h>
#include <vector>

#include "engine_api/client.h"
#include "engine_api/model.h"
#include "lab/engine_server.h"
#include "lab/lab_pki.h"
#include "lab/world.h"

using namespace she;
using Clock = std::chrono::steady_clock;

namespace {

std::string hosts_listing(int n) {
  std::string xml = "<hosts>";
  for (int i = 0; i < n; ++i)
    xml += fmt::format(
        "<host href=\"/ovirt-engine/api/hosts/{0:08x}-0000-4000-8000-{0:012x}\" id=\"{0:08x}-0000-4000-8000-{0:012x}\">"
        "<name>host{0:03}</name><address>host{0:03}.example.com</address><port>54321</port><status>up</status>"
        "<status_detail></status_detail><spm><priority>5</priority><status>{1}</status></spm>"
        "<cluster href=\"/ovirt-engine/api/clusters/c1\" id=\"c1\"/>"
        "<hardware_information><uuid>4c4c4544-{0:04}-3510-8033-b3c04f4e3132</uuid></hardware_information>"
        "<summary><active>12</active><migrating>0</migrating><total>12</total></summary>"
        "<hosted_engine><active>true</active><configured>true</configured><global_maintenance>false"
        "</global_maintenance><local_maintenance>false</local_maintenance><score>3400</score></hosted_engine>"
        "</host>",
        i, i == 0 ? "spm" : "none");
  return xml + "</hosts>";
}

long max_rss_kib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

/// 55 hosts in one cluster; 50 are put into maintenance and waited for.
struct PollResult {
  double seconds;        // from the first deactivate to the last wait's end
  double lower_bound;    // from the first deactivate to the last one's end of maintenance
  int requests;          // made while waiting
};

/// How the 50 waits are made: the client's own waits, one thread each
/// (as a loop at concurrency 50 makes them; they share the connection's
/// host watcher), or the baseline: each host read on its own every second.
enum class Waits { Watcher, PerHostPolling };

PollResult wait_for_fifty(double maintenance_s, Waits how, const std::string& label) {
  engine_api::ClientConfig config;
  auto dir = std::filesystem::temp_directory_path() / fmt::format("she-bench-lab-{}-{}", ::getpid(), label);
  std::filesystem::create_directories(dir);
  lab::WorldState st;
  st.engine.admin_password = "bench-password";
  st.data_centers.push_back({"dc1", "Default", lab::DataCenterStatus::Up});
  st.clusters.push_back({"cl1", "Default", "dc1"});
  for (int i = 0; i < 55; ++i) {
    lab::Host h;
    h.id = fmt::format("{:08x}-0000-4000-8000-{:012x}", i + 1, i + 1);
    h.name = fmt::format("host{:02}", i);
    h.address = h.name + ".example.com";
    h.cluster_id = "cl1";
    h.spm = i == 54 ? lab::SpmStatus::Spm : lab::SpmStatus::None;
    st.hosts.push_back(h);
  }
  st.durations.maintenance = maintenance_s;
  st.time_scale = 1;
  lab::World world(st);
  auto pki = lab::generate_lab_pki(dir, "engine.example.com");
  lab::LabEngineServer server(world, pki.files);
  int port = server.start("127.0.0.1", 0);
  config.api_url = fmt::format("https://127.0.0.1:{}/ovirt-engine/api", port);
  config.password = "bench-password";
  config.ca_file = pki.files.ca_file.string();
  engine_api::EngineClient client(config);
  engine_api::CallOptions o;
  auto t = Clock::now();
  for (int i = 0; i < 50; ++i) client.deactivate(o, st.hosts[i].id, "bench");
  const double lower_bound = std::chrono::duration<double>(Clock::now() - t).count() + maintenance_s;
  server.request_log().clear();
  if (how == Waits::Watcher) {
    std::vector<std::thread> waits;
    for (int i = 0; i < 50; ++i)
      waits.emplace_back([&, i] {
        client.wait_for_status(o, st.hosts[i].id, {"maintenance"}, {"error"}, std::chrono::minutes(5));
      });
    for (auto& w : waits) w.join();
  } else {
    // Every second, each host not there yet read on its own: fifty waits
    // polling side by side, as they did before the watcher.
    std::vector<bool> there(50, false);
    const auto deadline = Clock::now() + std::chrono::minutes(5);
    for (int left = 50; left > 0 && Clock::now() < deadline;) {
      for (int i = 0; i < 50; ++i)
        if (!there[i] && client.get_host(o, st.hosts[i].id).status == "maintenance") {
          there[i] = true;
          --left;
        }
      if (left > 0) std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  }
  PollResult r{std::chrono::duration<double>(Clock::now() - t).count(), lower_bound,
               static_cast<int>(server.request_log().all().size())};
  server.stop();
  std::filesystem::remove_all(dir);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::string xml = hosts_listing(500);
  long rss_before = max_rss_kib();
  const int rounds = 50;
  size_t hosts = 0;
  auto t = Clock::now();
  for (int i = 0; i < rounds; ++i) hosts += engine_api::parse_hosts(xml).size();
  double s = std::chrono::duration<double>(Clock::now() - t).count();
  fmt::print("parse a 500-host all_content listing ({:.0f} KiB of XML): {:.2f} ms each ({} rounds, {} hosts)\n",
             xml.size() / 1024.0, 1000 * s / rounds, rounds, hosts / rounds);
  fmt::print("peak memory: {} KiB before parsing, {} KiB after (+{} KiB; the XML text itself is {:.0f} KiB)\n",
             rss_before, max_rss_kib(), max_rss_kib() - rss_before, xml.size() / 1024.0);

  // Waiting for 50 hosts to reach maintenance, time scale 1 (a maintenance
  // takes `seconds` of real time): the client's waits (one watcher for the
  // connection) against reading each host every second, in the same run.
  double seconds = argc > 1 ? std::atof(argv[1]) : 15;
  PollResult w = wait_for_fifty(seconds, Waits::Watcher, "watcher");
  PollResult f = wait_for_fifty(seconds, Waits::PerHostPolling, "per-host");
  fmt::print("wait for 50 hosts to reach maintenance ({}s each, started together):\n", seconds);
  fmt::print("  host watcher (50 concurrent waits): {:.2f}s wall = {:.3f}x the {:.2f}s lower bound (the last "
             "deactivate + {}s; target <= 1.05x), {} requests ({:.1f}/s)\n",
             w.seconds, w.seconds / w.lower_bound, w.lower_bound, seconds, w.requests, w.requests / w.seconds);
  fmt::print("  baseline, each host read every 1s: {:.2f}s wall = {:.3f}x its {:.2f}s lower bound, {} requests ({:.1f}/s)\n",
             f.seconds, f.seconds / f.lower_bound, f.lower_bound, f.requests, f.requests / f.seconds);
  fmt::print("  ratio watcher/baseline: {:.2f}x the requests, {:.2f}x the wall time\n",
             static_cast<double>(w.requests) / f.requests, w.seconds / f.seconds);
  return 0;
}
