#include <doctest/doctest.h>

#include "hosts/tool_output.h"

using namespace she;

// Shapes from ovirt-he-automation.md section 2 (vm_status.py).
TEST_CASE("vm-status: host ids are string keys - global_maintenance beside them - engine-status an object") {
  const char* json = R"({"1": {"host-id": 1, "host-ts": 4262, "score": 3400,
       "engine-status": {"vm": "up", "health": "good", "detail": "Up"},
       "hostname": "h1.example.com", "maintenance": false, "stopped": false, "live-data": true},
     "2": {"host-id": 2, "host-ts": 11, "score": 0,
       "engine-status": {"vm": "down", "health": "bad", "detail": "unknown", "reason": "vm not running on this host"},
       "hostname": "h2.example.com", "maintenance": true, "live-data": false},
     "global_maintenance": false})";
  HeClusterStatus s = parse_vm_status(json, "", 0);
  REQUIRE(s.hosts.size() == 2);
  CHECK(s.hosts[0].hostname == "h1.example.com");
  CHECK(s.hosts[1].maintenance);
  CHECK_FALSE(s.hosts[1].live_data);
  CHECK(s.min_score() == 0);
  CHECK(s.engine_host() == "h1.example.com");
  Value v = s.to_value();
  CHECK(v["engine_health"] == "good");
  CHECK(v["min_score"] == 0);
  CHECK(v["hosts"][1]["host_id"] == 2);
}

TEST_CASE("vm-status: not deployed - a broker error printed as a Python dict - each is a clear error") {
  CHECK_THROWS_WITH(parse_vm_status("You must run deploy first\n", "", 1), doctest::Contains("not deployed"));
  CHECK_THROWS_WITH(parse_vm_status("{'exception': 'Failed to connect to broker'}\n", "Cannot connect to the HA daemon\n", 1),
                    doctest::Contains("Cannot connect to the HA daemon"));
}

TEST_CASE("engine-backup: success needs exit 0 and Done. - FATAL lines are collected") {
  auto ok = parse_engine_backup("Start of engine-backup with mode 'restore'\nYou should now run engine-setup.\nDone.\n", "", 0);
  CHECK(ok.ok);
  CHECK(ok.engine_setup_needed);
  auto bad = parse_engine_backup("", "FATAL: Engine service is active - can not restore backup\n", 1);
  CHECK_FALSE(bad.ok);
  REQUIRE(bad.fatal.size() == 1);
  CHECK(bad.fatal[0] == "Engine service is active - can not restore backup");
}
