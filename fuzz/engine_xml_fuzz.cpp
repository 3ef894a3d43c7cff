// Fuzz target: bytes -> every parser of the engine's XML (pugixml): hosts,
// one host, VMs, data centers, events, the API root, a job's status and
// both fault shapes. Unreadable XML is an EngineError, expected; a crash,
// a hang or any other exception is a bug.
#include <cstdint>
#include <string>

#include "engine_api/engine_error.h"
#include "engine_api/model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace she::engine_api;
  std::string xml(reinterpret_cast<const char*>(data), size);
  auto guarded = [&](auto parse) {
    try {
      parse();
    } catch (const EngineError&) {
    }
  };
  guarded([&] {
    for (auto& h : parse_hosts(xml)) (void)h.to_value();
  });
  guarded([&] { (void)parse_host(xml).to_value(); });
  guarded([&] { (void)parse_vms(xml); });
  guarded([&] { (void)parse_datacenters(xml); });
  guarded([&] { (void)parse_events(xml); });
  guarded([&] { (void)parse_api(xml); });
  guarded([&] { (void)parse_job_status(xml); });
  Fault fault;
  (void)parse_fault(xml, &fault);
  return 0;
}
