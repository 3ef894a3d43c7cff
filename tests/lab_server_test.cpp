// The lab engine over HTTPS, in-process on 127.0.0.1, verified against the
// lab's own CA: SSO tokens, 401 as HTML, 404 empty, DELETE answering an
// <action>, refusals inside <action>, 503 bursts, the request log and the
// control endpoints. Every test stops the server it starts (LabFixture).
#include <doctest/doctest.h>

#include <csignal>
#include <filesystem>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <pugixml.hpp>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lab/engine_server.h"
#include "lab/lab_pki.h"
#include "lab/scenario.h"
#include "lab/world.h"
#include "test_support.h"

using namespace she::lab;

namespace {

const char* kScenario = R"(scenario: server-test
engine: {fqdn: engine.example.com, version: 4.5.6}
hosts:
  - {name: hosted_engine_1, address: host1.example.com, hosted_engine: {host_id: 1, score: 3400}}
  - {name: hosted_engine_2, address: host2.example.com, hosted_engine: {host_id: 2, score: 3400}}
  - {name: host_4, address: host4.example.com, spm: true}
vms:
  - {name: HostedEngine, host: hosted_engine_2, hosted_engine_vm: true}
  - {name: db01, host: hosted_engine_1}
time_scale: 0
)";

const char* kPassword = "lab-secret";

// A lab engine on 127.0.0.1:<any port> and a client that verifies it
// against the generated CA. The destructor stops the server.
struct LabFixture {
  she::test::TempDir dir;
  LabPki pki;
  World world;
  std::unique_ptr<LabEngineServer> server;
  int port = 0;

  LabFixture() : pki(generate_lab_pki(dir.path() / "pki", "engine.example.com")) {
    WorldState s = parse_scenario(kScenario, "server-test.yaml");
    s.engine.admin_password = kPassword;
    world.reset(s);
    server = std::make_unique<LabEngineServer>(world, pki.files);
    port = server->start("127.0.0.1", 0);
  }
  ~LabFixture() { server->stop(); }

  std::unique_ptr<httplib::SSLClient> client() const {
    auto c = std::make_unique<httplib::SSLClient>("127.0.0.1", port);
    c->set_ca_cert_path(pki.files.ca_file.c_str());
    c->enable_server_certificate_verification(true);
    c->set_connection_timeout(5);
    c->set_read_timeout(10);
    return c;
  }

  std::string token(const std::string& scope = "ovirt-app-api") const {
    auto c = client();
    httplib::Params form = {{"grant_type", "password"}, {"scope", scope}, {"username", "admin@internal"},
                            {"password", kPassword}};
    auto res = c->Post("/ovirt-engine/sso/oauth/token", {{"Accept", "application/json"}}, form);
    REQUIRE(res);
    REQUIRE(res->status == 200);
    return nlohmann::json::parse(res->body)["access_token"].get<std::string>();
  }

  httplib::Headers api_headers(const std::string& tok, const std::string& correlation = "") const {
    httplib::Headers h = {{"Authorization", "Bearer " + tok}, {"Version", "4"}, {"Accept", "application/xml"}};
    if (!correlation.empty()) h.emplace("Correlation-Id", correlation);
    return h;
  }

  std::string host_id(const std::string& name) const { return world.host_by_name(name)->id; }
};

pugi::xml_document parse(const std::string& xml) {
  pugi::xml_document doc;
  REQUIRE(doc.load_string(xml.c_str()));
  return doc;
}

}  // namespace

TEST_CASE("lab server: SSO token flow - bearer use - logout revokes") {
  LabFixture lab;
  auto c = lab.client();
  httplib::Params form = {{"grant_type", "password"}, {"scope", "ovirt-app-api"}, {"username", "admin@internal"},
                          {"password", kPassword}};
  auto res = c->Post("/ovirt-engine/sso/oauth/token", {{"Accept", "application/json"}}, form);
  REQUIRE(res);
  CHECK(res->status == 200);
  auto j = nlohmann::json::parse(res->body);
  CHECK(j["token_type"] == "bearer");
  CHECK(j["scope"] == "ovirt-app-api");
  CHECK(j["exp"] == "9223372036854775807");  // no token_ttl_s: the engine's Long.MAX_VALUE
  const std::string tok = j["access_token"];
  CHECK(tok.size() > 20);

  res = c->Get("/ovirt-engine/api", lab.api_headers(tok));
  REQUIRE(res);
  CHECK(res->status == 200);
  auto api = parse(res->body);
  CHECK(std::string(api.select_node("/api/product_info/name").node().text().as_string()) == "oVirt Engine");
  CHECK(std::string(api.select_node("/api/product_info/vendor").node().text().as_string()) == "ovirt.org");
  CHECK(std::string(api.select_node("/api/product_info/version/full_version").node().text().as_string()) == "4.5.6");
  CHECK(api.select_node("/api/product_info/version/major").node().text().as_int() == 4);
  CHECK(api.select_node("/api/product_info/version/minor").node().text().as_int() == 5);
  CHECK(api.select_node("/api/summary/hosts/total").node().text().as_int() == 3);
  CHECK(api.select_node("/api/time").node());
  res = c->Head("/ovirt-engine/api", lab.api_headers(tok));
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->body.empty());

  // Logout with the SDK's form: the token stops working.
  res = c->Post("/ovirt-engine/services/sso-logout", httplib::Params{{"scope", "ovirt-app-api"}, {"token", tok}});
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(nlohmann::json::parse(res->body).is_object());
  res = c->Get("/ovirt-engine/api/hosts", lab.api_headers(tok));
  REQUIRE(res);
  CHECK(res->status == 401);

  // The password never reaches the request log, even in a GET query.
  res = c->Get("/ovirt-engine/sso/oauth/token?grant_type=password&scope=ovirt-app-api&username=admin%40internal"
               "&password=lab-secret");
  REQUIRE(res);
  CHECK(res->status == 200);
  const std::string log = lab.server->request_log().to_json().dump();
  CHECK(log.find("lab-secret") == std::string::npos);
  CHECK(log.find("password=[redacted]") != std::string::npos);
}

TEST_CASE("lab server: SSO refusals - 400 with the two error shapes") {
  LabFixture lab;
  auto c = lab.client();
  httplib::Params form = {{"grant_type", "password"}, {"scope", "ovirt-app-api"}, {"username", "admin@internal"},
                          {"password", "wrong"}};
  auto res = c->Post("/ovirt-engine/sso/oauth/token", form);
  REQUIRE(res);
  CHECK(res->status == 400);
  auto j = nlohmann::json::parse(res->body);
  CHECK(j["error_code"] == "access_denied");
  CHECK(j["error"].get<std::string>().rfind("Cannot authenticate user 'admin@internal': ", 0) == 0);
  CHECK_FALSE(j.contains("error_description"));

  form = {{"grant_type", "password"}, {"scope", "ovirt-app-admin"}, {"username", "admin@internal"}, {"password", "x"}};
  res = c->Post("/ovirt-engine/sso/oauth/token", form);
  REQUIRE(res);
  CHECK(res->status == 400);
  j = nlohmann::json::parse(res->body);
  CHECK(j["error"] == "access_denied");
  CHECK(j["error_description"].get<std::string>().rfind("Cannot authenticate user 'admin@internal': ", 0) == 0);

  // A token for another scope does not open the REST API.
  const std::string other = lab.token("ovirt-app-admin");
  res = c->Get("/ovirt-engine/api/hosts", lab.api_headers(other));
  REQUIRE(res);
  CHECK(res->status == 401);
}

TEST_CASE("lab server: 401 is an HTML page with WWW-Authenticate - Basic works - expired tokens get 401") {
  LabFixture lab;
  auto c = lab.client();
  auto res = c->Get("/ovirt-engine/api/hosts");
  REQUIRE(res);
  CHECK(res->status == 401);
  CHECK(res->get_header_value("WWW-Authenticate") == "Basic realm=\"RESTAPI\"");
  CHECK(res->get_header_value("Content-Type").find("text/html") == 0);
  CHECK(res->body.find("<fault>") == std::string::npos);
  CHECK(res->body.find("<html>") != std::string::npos);

  res = c->Get("/ovirt-engine/api/hosts", {{"Authorization", "Bearer not-a-token"}});
  REQUIRE(res);
  CHECK(res->status == 401);

  c->set_basic_auth("admin@internal", kPassword);
  res = c->Get("/ovirt-engine/api/hosts");
  REQUIRE(res);
  CHECK(res->status == 200);
  c->set_basic_auth("admin@internal", "wrong");
  res = c->Get("/ovirt-engine/api/hosts");
  REQUIRE(res);
  CHECK(res->status == 401);

  auto fresh = lab.client();
  const std::string tok = lab.token();
  res = fresh->Get("/ovirt-engine/api/hosts", lab.api_headers(tok));
  REQUIRE(res);
  CHECK(res->status == 200);
  res = fresh->Post("/lab/expire-tokens", "", "application/json");
  REQUIRE(res);
  CHECK(nlohmann::json::parse(res->body)["expired"].get<int>() >= 1);
  res = fresh->Get("/ovirt-engine/api/hosts", lab.api_headers(tok));
  REQUIRE(res);
  CHECK(res->status == 401);
  CHECK(fresh->Get("/ovirt-engine/api/hosts", lab.api_headers(lab.token()))->status == 200);  // a re-login works
}

TEST_CASE("lab server: hosts list - search - all_content - 404 empty - 400 malformed id") {
  LabFixture lab;
  auto c = lab.client();
  const std::string tok = lab.token();
  auto res = c->Get("/ovirt-engine/api/hosts", lab.api_headers(tok));
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->get_header_value("Content-Type").find("application/xml") == 0);
  auto doc = parse(res->body);
  CHECK(doc.select_nodes("/hosts/host").size() == 3);
  CHECK_FALSE(doc.select_node("//hosted_engine"));  // excluded by default

  // search=name="HOSTED_ENGINE_1" (quoted, case-insensitive), all_content=true.
  res = c->Get("/ovirt-engine/api/hosts?all_content=true&search=name%3D%22HOSTED_ENGINE_1%22", lab.api_headers(tok));
  REQUIRE(res);
  doc = parse(res->body);
  auto hosts = doc.select_nodes("/hosts/host");
  REQUIRE(hosts.size() == 1);
  pugi::xml_node h = hosts.first().node();
  CHECK(std::string(h.attribute("id").as_string()) == lab.host_id("hosted_engine_1"));
  CHECK(std::string(h.attribute("href").as_string()) == "/ovirt-engine/api/hosts/" + lab.host_id("hosted_engine_1"));
  CHECK(std::string(h.child("name").text().as_string()) == "hosted_engine_1");
  CHECK(std::string(h.child("address").text().as_string()) == "host1.example.com");
  CHECK(std::string(h.child("status").text().as_string()) == "up");
  CHECK(std::string(h.child("spm").child("status").text().as_string()) == "none");
  CHECK(h.child("spm").child("priority").text().as_int() == 5);
  CHECK(h.child("cluster").attribute("id"));
  CHECK(h.child("hardware_information").child("uuid"));
  CHECK(h.child("summary").child("total").text().as_int() == 1);
  CHECK(h.child("hosted_engine").child("configured").text().as_bool());
  CHECK(h.child("hosted_engine").child("score").text().as_int() == 3400);

  // Bare name= search; a regular host has no <hosted_engine> even with all_content.
  res = c->Get("/ovirt-engine/api/hosts?all_content=true&search=name%3Dhost_4", lab.api_headers(tok));
  doc = parse(res->body);
  REQUIRE(doc.select_nodes("/hosts/host").size() == 1);
  CHECK_FALSE(doc.select_node("//hosted_engine"));
  CHECK(std::string(doc.select_node("//spm/status").node().text().as_string()) == "spm");
  res = c->Get("/ovirt-engine/api/hosts?search=name%3Dnobody", lab.api_headers(tok));
  CHECK(parse(res->body).select_nodes("/hosts/host").size() == 0);
  // An unknown field: the engine's search logs it and answers nothing.
  res = c->Get("/ovirt-engine/api/hosts?search=colour%3Dblue", lab.api_headers(tok));
  CHECK(res->status == 200);
  CHECK(parse(res->body).select_nodes("/hosts/host").size() == 0);

  res = c->Get("/ovirt-engine/api/hosts/" + lab.host_id("host_4"), lab.api_headers(tok));
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(std::string(parse(res->body).child("host").child("name").text().as_string()) == "host_4");

  res = c->Get("/ovirt-engine/api/hosts/00000000-0000-4000-8000-000000000000", lab.api_headers(tok));
  REQUIRE(res);
  CHECK(res->status == 404);
  CHECK(res->body.empty());
  res = c->Get("/ovirt-engine/api/hosts/not-a-guid", lab.api_headers(tok));
  REQUIRE(res);
  CHECK(res->status == 400);
  CHECK(std::string(parse(res->body).child("fault").child("reason").text().as_string()) == "Operation failed");

  // The version: /v4 and Version: 4 work, anything else is 400.
  CHECK(c->Get("/ovirt-engine/api/v4/hosts", lab.api_headers(tok))->status == 200);
  auto v3 = lab.api_headers(tok);
  v3.erase("Version");
  v3.emplace("Version", "3");
  CHECK(c->Get("/ovirt-engine/api/hosts", v3)->status == 400);
}

TEST_CASE("lab server: status searches use the engine's enum names - or and sortby - refusals") {
  LabFixture lab;
  REQUIRE(lab.world.set_host_status("hosted_engine_2", HostStatus::NonResponsive));
  REQUIRE(lab.world.set_host_status("host_4", HostStatus::NonResponsive));
  auto c = lab.client();
  const std::string tok = lab.token();
  auto names = [&](const std::string& query) {
    auto res = c->Get("/ovirt-engine/api/hosts?search=" + query, lab.api_headers(tok));
    REQUIRE(res);
    CHECK(res->status == 200);
    std::vector<std::string> out;
    for (auto n : parse(res->body).select_nodes("/hosts/host/name")) out.emplace_back(n.node().text().as_string());
    return out;
  };
  using Names = std::vector<std::string>;
  CHECK(names("status%3Dnonresponsive") == Names{"hosted_engine_2", "host_4"});
  CHECK(names("status%3DNonResponsive%20sortby%20name%20desc") == Names{"hosted_engine_2", "host_4"});
  CHECK(names("status%3Dup%20or%20name%3Dhost_4") == Names{"hosted_engine_1", "host_4"});
  // The XML spelling is no enum name: the engine answers an empty collection.
  CHECK(names("status%3Dnon_responsive").empty());
  CHECK(names("colour%3Dblue").empty());
  // An engine field the lab keeps no data for is refused, not guessed.
  auto res = c->Get("/ovirt-engine/api/hosts?search=cpus%3E4", lab.api_headers(tok));
  REQUIRE(res);
  CHECK(res->status == 400);
  CHECK(std::string(parse(res->body).child("fault").child("reason").text().as_string()) == "Operation Failed");
  res = c->Get("/ovirt-engine/api/vms?search=status%3Dup%20and%20name%3Ddb*", lab.api_headers(tok));
  REQUIRE(res);
  CHECK(parse(res->body).select_nodes("/vms/vm").size() == 1);
  res = c->Get("/ovirt-engine/api/events?search=type%3D1%20or%20type%3D2&max=1", lab.api_headers(tok));
  REQUIRE(res);
  CHECK(res->status == 200);
}

TEST_CASE("lab server: maintenance then DELETE answers 200 with an action - then 404") {
  LabFixture lab;
  auto c = lab.client();
  const std::string tok = lab.token();
  const std::string id = lab.host_id("hosted_engine_1");
  auto res = c->Post("/ovirt-engine/api/hosts/" + id + "/deactivate", lab.api_headers(tok, "corr-1"),
                     "<action><reason>DR</reason></action>", "application/xml");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->get_header_value("Correlation-Id") == "corr-1");
  auto doc = parse(res->body);
  CHECK(std::string(doc.select_node("/action/status").node().text().as_string()) == "complete");
  CHECK(std::string(doc.select_node("/action/reason").node().text().as_string()) == "DR");
  const pugi::xml_node job = doc.select_node("/action/job").node();
  REQUIRE(job);
  const std::string job_id = job.attribute("id").as_string();
  CHECK(std::string(job.attribute("href").as_string()) == "/ovirt-engine/api/jobs/" + job_id);

  // Time scale 0: the first poll still sees preparing_for_maintenance.
  auto status = [&] {
    auto r = c->Get("/ovirt-engine/api/hosts/" + id, lab.api_headers(tok));
    REQUIRE(r);
    return std::string(parse(r->body).child("host").child("status").text().as_string());
  };
  CHECK(status() == "preparing_for_maintenance");
  CHECK(status() == "maintenance");

  res = c->Get("/ovirt-engine/api/jobs/" + job_id, lab.api_headers(tok));
  REQUIRE(res);
  CHECK(std::string(parse(res->body).child("job").child("status").text().as_string()) == "finished");

  res = c->Delete("/ovirt-engine/api/hosts/" + id + "?force=true", lab.api_headers(tok, "corr-2"));
  REQUIRE(res);
  CHECK(res->status == 200);
  doc = parse(res->body);
  CHECK(std::string(doc.select_node("/action/status").node().text().as_string()) == "complete");
  CHECK(doc.select_node("/action/job").node().attribute("id"));
  res = c->Get("/ovirt-engine/api/hosts/" + id, lab.api_headers(tok));
  REQUIRE(res);
  CHECK(res->status == 404);
  CHECK(res->body.empty());

  // The events carry the correlation ids; search by correlation id.
  res = c->Get("/ovirt-engine/api/events?from=0&search=correlation_id%3Dcorr-2", lab.api_headers(tok));
  REQUIRE(res);
  doc = parse(res->body);
  auto events = doc.select_nodes("/events/event");
  REQUIRE(events.size() == 1);
  CHECK(events.first().node().child("code").text().as_int() == 44);
  CHECK(std::string(events.first().node().child("correlation_id").text().as_string()) == "corr-2");
  res = c->Get("/ovirt-engine/api/events?from=0", lab.api_headers(tok));
  events = parse(res->body).select_nodes("/events/event");
  REQUIRE(events.size() == 4);  // the token's login (30), 600, 15, 44, newest first
  CHECK(events[0].node().child("code").text().as_int() == 44);
  CHECK(events[1].node().child("code").text().as_int() == 15);
  CHECK(events[2].node().child("code").text().as_int() == 600);
  CHECK(events[3].node().child("code").text().as_int() == 30);
  const long long second = events[1].node().attribute("id").as_llong();
  res = c->Get("/ovirt-engine/api/events?from=" + std::to_string(second), lab.api_headers(tok));
  CHECK(parse(res->body).select_nodes("/events/event").size() == 1);
}

TEST_CASE("lab server: refusals - a 409 fault inside the action - a bare fault for DELETE") {
  LabFixture lab;
  auto c = lab.client();
  const std::string tok = lab.token();
  const std::string id = lab.host_id("hosted_engine_1");
  auto res = c->Post("/ovirt-engine/api/hosts/" + id + "/fence", lab.api_headers(tok),
                     "<action><fence_type>manual</fence_type></action>", "application/xml");
  REQUIRE(res);
  CHECK(res->status == 409);
  auto doc = parse(res->body);
  CHECK(std::string(doc.select_node("/action/fence_type").node().text().as_string()) == "manual");
  CHECK(std::string(doc.select_node("/action/status").node().text().as_string()) == "failed");
  CHECK(std::string(doc.select_node("/action/fault/reason").node().text().as_string()) == "Operation Failed");
  CHECK(std::string(doc.select_node("/action/fault/detail").node().text().as_string()) ==
        "[Cannot confirm 'Host has been rebooted' Host. Valid Host statuses are \"Non operational\", \"Maintenance\" "
        "or \"Connecting\".]");

  res = c->Delete("/ovirt-engine/api/hosts/" + id + ";force=true", lab.api_headers(tok));
  REQUIRE(res);
  CHECK(res->status == 409);
  doc = parse(res->body);
  CHECK_FALSE(doc.child("action"));
  CHECK(std::string(doc.select_node("/fault/reason").node().text().as_string()) == "Operation Failed");
  CHECK(std::string(doc.select_node("/fault/detail").node().text().as_string()) ==
        "[Cannot remove Host. Host is operational. Please switch Host to Maintenance mode first.]");

  // Missing and wrong fence types: 400 before anything else.
  res = c->Post("/ovirt-engine/api/hosts/" + id + "/fence", lab.api_headers(tok), "<action/>", "application/xml");
  REQUIRE(res);
  CHECK(res->status == 400);
  doc = parse(res->body);
  CHECK(std::string(doc.select_node("/fault/reason").node().text().as_string()) == "Incomplete parameters");
  CHECK(std::string(doc.select_node("/fault/detail").node().text().as_string()) == "Action [fenceType] required for fence");
  res = c->Post("/ovirt-engine/api/hosts/" + id + "/fence", lab.api_headers(tok),
                "<action><fence_type>reboot</fence_type></action>", "application/xml");
  CHECK(res->status == 400);
  CHECK(std::string(parse(res->body).select_node("/fault/reason").node().text().as_string()) == "Invalid value");

  // An action on an unknown host: 404, empty.
  res = c->Post("/ovirt-engine/api/hosts/00000000-0000-4000-8000-000000000000/activate", lab.api_headers(tok),
                "<action/>", "application/xml");
  CHECK(res->status == 404);
  CHECK(res->body.empty());
}

TEST_CASE("lab server: install reads everything from the body - add host answers 201") {
  LabFixture lab;
  auto c = lab.client();
  const std::string tok = lab.token();
  const std::string id = lab.host_id("host_4");
  auto post = [&](const std::string& path, const std::string& body) {
    auto r = c->Post(path, lab.api_headers(tok), body, "application/xml");
    REQUIRE(r);
    return r;
  };
  auto status = [&](const std::string& host) {
    auto r = c->Get("/ovirt-engine/api/hosts/" + host, lab.api_headers(tok));
    return std::string(parse(r->body).child("host").child("status").text().as_string());
  };
  CHECK(post("/ovirt-engine/api/hosts/" + id + "/deactivate", "<action/>")->status == 200);
  CHECK(status(id) == "preparing_for_maintenance");
  CHECK(status(id) == "maintenance");

  // activate in the URL is ignored for install; the body's default is false.
  auto res = post("/ovirt-engine/api/hosts/" + id + "/install?activate=true",
                  "<action><ssh><authentication_method>publickey</authentication_method></ssh>"
                  "<deploy_hosted_engine>true</deploy_hosted_engine></action>");
  CHECK(res->status == 200);
  CHECK(status(id) == "installing");
  CHECK(status(id) == "maintenance");
  res = c->Get("/ovirt-engine/api/hosts/" + id + "?all_content=true", lab.api_headers(tok));
  CHECK(parse(res->body).select_node("/host/hosted_engine/score").node().text().as_int() == 3400);

  // Add: flags in the URL, 201 with the host, installing.
  const std::string body =
      "<host><name>hosted_engine_3</name><address>host3.example.com</address>"
      "<ssh><authentication_method>publickey</authentication_method></ssh><cluster><name>Default</name></cluster></host>";
  res = post("/ovirt-engine/api/hosts?deploy_hosted_engine=true&activate=true&reboot=false", body);
  CHECK(res->status == 201);
  auto doc = parse(res->body);
  const std::string new_id = doc.child("host").attribute("id").as_string();
  CHECK(std::string(doc.child("host").child("status").text().as_string()) == "installing");
  CHECK(res->get_header_value("Location").find("/ovirt-engine/api/hosts/" + new_id) != std::string::npos);
  CHECK(status(new_id) == "installing");
  CHECK(status(new_id) == "up");
  res = post("/ovirt-engine/api/hosts", body);
  CHECK(res->status == 409);
  CHECK(std::string(parse(res->body).select_node("/fault/detail").node().text().as_string()) ==
        "[Cannot add Host. The Host name is already in use, please choose a unique name and try again.]");
  res = post("/ovirt-engine/api/hosts", "<host><name>x</name></host>");
  CHECK(res->status == 400);
  CHECK(std::string(parse(res->body).select_node("/fault/detail").node().text().as_string()) ==
        "Host [address] required for add");
}

TEST_CASE("lab server: VMs - start - global maintenance through the engine VM - data centers") {
  LabFixture lab;
  auto c = lab.client();
  const std::string tok = lab.token();
  auto res = c->Get("/ovirt-engine/api/vms?search=name%3DHostedEngine", lab.api_headers(tok));
  REQUIRE(res);
  auto doc = parse(res->body);
  REQUIRE(doc.select_nodes("/vms/vm").size() == 1);
  pugi::xml_node vm = doc.select_node("/vms/vm").node();
  CHECK(std::string(vm.child("origin").text().as_string()) == "managed_hosted_engine");
  CHECK(std::string(vm.child("host").attribute("id").as_string()) == lab.host_id("hosted_engine_2"));
  const std::string he_vm = vm.attribute("id").as_string();

  res = c->Post("/ovirt-engine/api/vms/" + he_vm + "/maintenance", lab.api_headers(tok),
                "<action><maintenance_enabled>true</maintenance_enabled></action>", "application/xml");
  CHECK(res->status == 200);
  res = c->Get("/ovirt-engine/api/hosts?all_content=true&search=name%3Dhosted_engine_1", lab.api_headers(tok));
  CHECK(parse(res->body).select_node("//hosted_engine/global_maintenance").node().text().as_bool());

  const std::string db01 = lab.world.vm_by_name("db01")->id;
  res = c->Post("/ovirt-engine/api/vms/" + db01 + "/start", lab.api_headers(tok), "<action/>", "application/xml");
  CHECK(res->status == 409);
  CHECK(std::string(parse(res->body).select_node("/action/fault/detail").node().text().as_string()) ==
        "[Cannot run VM. VM is running.]");

  res = c->Get("/ovirt-engine/api/datacenters", lab.api_headers(tok));
  REQUIRE(res);
  doc = parse(res->body);
  CHECK(std::string(doc.select_node("/data_centers/data_center/name").node().text().as_string()) == "Default");
  CHECK(std::string(doc.select_node("/data_centers/data_center/status").node().text().as_string()) == "up");
}

TEST_CASE("lab server: a 503 burst answers before any effect - then success") {
  LabFixture lab;
  auto c = lab.client();
  const std::string tok = lab.token();
  auto res = c->Post("/lab/faults", R"({"http_503": {"count": 2, "methods": ["GET"]}})", "application/json");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(c->Get("/ovirt-engine/services/health")->status == 503);
  // A POST is not in the burst's methods.
  const std::string id = lab.host_id("hosted_engine_1");
  CHECK(c->Post("/ovirt-engine/api/hosts/" + id + "/deactivate", lab.api_headers(tok), "<action/>", "application/xml")
            ->status == 200);
  res = c->Get("/ovirt-engine/api/hosts/" + id, lab.api_headers(tok));
  CHECK(res->status == 503);
  CHECK(res->body.find("Service Unavailable") != std::string::npos);
  res = c->Get("/ovirt-engine/api/hosts/" + id, lab.api_headers(tok));
  CHECK(res->status == 200);
  // The 503s had no effect, not even on the clock: this is the first poll.
  CHECK(std::string(parse(res->body).child("host").child("status").text().as_string()) == "preparing_for_maintenance");

  res = c->Post("/lab/faults", R"({"slow_ms": 150})", "application/json");
  const auto start = std::chrono::steady_clock::now();
  CHECK(c->Get("/ovirt-engine/services/health")->status == 200);
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(150));
  CHECK(c->Post("/lab/faults", "not json", "application/json")->status == 400);
}

TEST_CASE("lab server: the request log - reset - the world as JSON") {
  LabFixture lab;
  auto c = lab.client();
  const std::string tok = lab.token();
  CHECK(c->Post("/lab/reset-requests", "", "application/json")->status == 200);
  CHECK(c->Get("/ovirt-engine/api/hosts?search=name%3Dhost_4", lab.api_headers(tok, "corr-log"))->status == 200);
  CHECK(c->Get("/ovirt-engine/api/hosts/00000000-0000-4000-8000-000000000000", lab.api_headers(tok))->status == 404);
  auto res = c->Get("/lab/requests");
  REQUIRE(res);
  auto log = nlohmann::json::parse(res->body);
  REQUIRE(log.size() == 2);  // /lab/ calls are not logged
  CHECK(log[0]["method"] == "GET");
  CHECK(log[0]["path"] == "/ovirt-engine/api/hosts?search=name%3Dhost_4");
  CHECK(log[0]["status"] == 200);
  CHECK(log[0]["correlation_id"] == "corr-log");
  CHECK(log[1]["status"] == 404);
  CHECK(log[1]["seq"].get<int>() > log[0]["seq"].get<int>());
  CHECK_FALSE(log[0]["time"].get<std::string>().empty());

  res = c->Get("/lab/world");
  REQUIRE(res);
  auto world = nlohmann::json::parse(res->body);
  CHECK(world["engine"]["fqdn"] == "engine.example.com");
  CHECK(world["hosts"].size() == 3);
  CHECK(res->body.find(kPassword) == std::string::npos);

  res = c->Post("/lab/host-status", R"({"host": "hosted_engine_1", "status": "non_responsive"})", "application/json");
  CHECK(res->status == 200);
  CHECK(lab.world.host_by_name("hosted_engine_1")->status == HostStatus::NonResponsive);
  CHECK(c->Get("/lab/nothing")->status == 404);
}

TEST_CASE("lab server: the agents' socket serves /lab/ alone - in a directory only its user enters - gone at stop") {
  std::filesystem::path socket, dir;
  {
    LabFixture lab;
    socket = lab.server->agent_socket();
    REQUIRE_FALSE(socket.empty());
    dir = socket.parent_path();
    CHECK(std::filesystem::is_socket(socket));
    CHECK((std::filesystem::status(dir).permissions() & std::filesystem::perms::all) == std::filesystem::perms::owner_all);
    httplib::Client c(socket.string());
    c.set_address_family(AF_UNIX);
    c.set_connection_timeout(5);
    c.set_read_timeout(10);
    auto res = c.Get("/lab/world");
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(nlohmann::json::parse(res->body)["engine"]["fqdn"] == "engine.example.com");
    res = c.Post("/lab/host-status", R"({"host": "host_4", "status": "non_responsive"})", "application/json");
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(lab.world.host_by_name("host_4")->status == HostStatus::NonResponsive);
    // The engine's API, SSO and health stay on the HTTPS port: nothing
    // there without TLS, not even the health page.
    for (const char* path : {"/ovirt-engine/api/hosts", "/ovirt-engine/services/health", "/ovirt-engine/sso/oauth/token"}) {
      CAPTURE(path);
      res = c.Get(path);
      REQUIRE(res);
      CHECK(res->status == 404);
      CHECK(res->body.empty());
    }
  }
  CHECK_FALSE(std::filesystem::exists(socket));
  CHECK_FALSE(std::filesystem::exists(dir));
}

TEST_CASE("lab server: health text - pki-resource serves the CA - TLS fails against another CA") {
  LabFixture lab;
  auto c = lab.client();
  auto res = c->Get("/ovirt-engine/services/health");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->body == "DB Up!Welcome to Health Status!");
  CHECK(res->get_header_value("Content-Type").find("text/html") == 0);
  CHECK(c->Post("/lab/engine-health", R"({"health": "down"})", "application/json")->status == 200);
  res = c->Get("/ovirt-engine/services/health");
  CHECK(res->status == 500);
  CHECK(res->body == "DB Down!");

  res = c->Get("/ovirt-engine/services/pki-resource?resource=ca-certificate&format=X509-PEM-CA");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->body == she::test::read_file(lab.pki.files.ca_file));
  CHECK(pem_sha256_fingerprint(res->body) == lab.pki.ca_fingerprint);
  CHECK(c->Get("/ovirt-engine/services/pki-resource")->status == 400);
  CHECK(c->Get("/ovirt-engine/services/pki-resource?resource=ca-certificate&format=DER")->status == 400);
  res = c->Get("/ovirt-engine/services/pki-resource?resource=engine-certificate&format=OPENSSH-PUBKEY");
  CHECK(res->status == 200);
  CHECK(res->body.rfind("ssh-rsa AAAA", 0) == 0);

  // A client that trusts a different CA does not get through.
  she::test::TempDir other;
  LabPki stranger = generate_lab_pki(other.path(), "engine.example.com");
  httplib::SSLClient wrong("127.0.0.1", lab.port);
  wrong.set_ca_cert_path(stranger.files.ca_file.c_str());
  wrong.enable_server_certificate_verification(true);
  wrong.set_connection_timeout(5);
  CHECK_FALSE(wrong.Get("/ovirt-engine/services/health"));
}

TEST_CASE("lab PKI: CA and server certificate - fingerprint form - key mode 0600") {
  she::test::TempDir dir;
  LabPki pki = generate_lab_pki(dir.path(), "engine.example.com", {"192.0.2.10"});
  CHECK(pki.ca_fingerprint.rfind("SHA256:", 0) == 0);
  CHECK(pki.ca_fingerprint.size() == 7 + 32 * 3 - 1);
  CHECK(pki.ca_fingerprint == pem_sha256_fingerprint(she::test::read_file(pki.files.ca_file)));
  auto perms = std::filesystem::status(pki.files.key_file).permissions();
  CHECK((perms & std::filesystem::perms::all) == (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
  // openssl itself agrees on the chain, the names and the fingerprint.
  const std::string ca = pki.files.ca_file.string(), cert = pki.files.cert_file.string();
  auto verify = she::test::run("openssl verify -CAfile '" + ca + "' '" + cert + "'");
  CHECK(verify.exit_code == 0);
  auto text = she::test::run("openssl x509 -noout -text -in '" + cert + "'");
  CHECK(text.output.find("DNS:engine.example.com, DNS:localhost, IP Address:127.0.0.1, IP Address:192.0.2.10") !=
        std::string::npos);
  auto ca_text = she::test::run("openssl x509 -noout -text -in '" + ca + "'");
  CHECK(ca_text.output.find("CA:TRUE") != std::string::npos);
  auto fp = she::test::run("openssl x509 -noout -fingerprint -sha256 -in '" + ca + "'");
  CHECK(fp.output.find(pki.ca_fingerprint.substr(7)) != std::string::npos);
  CHECK(pem_sha256_fingerprint("not a certificate").empty());
}

namespace {

// she-lab is built beside the test binaries: build/lab/she-lab.
std::string she_lab_binary() {
  return (std::filesystem::path(SHE_TESTBED_BINARY).parent_path().parent_path() / "lab" / "she-lab").string();
}

// Starts `she-lab serve ...` with its stdout on a pipe; returns the pid.
// Everything the child needs is built before fork: after it, only
// async-signal-safe calls.
int spawn_she_lab(const std::vector<std::string>& args, int& stdout_fd) {
  std::vector<std::string> strings = {she_lab_binary()};
  strings.insert(strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    ::close(fds[1]);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  stdout_fd = fds[0];
  return pid;
}

// Kills the child if a failed assertion leaves the test early.

// Reads lines until `n` have come or the child closes its stdout.
std::vector<std::string> read_lines(int fd, std::size_t n) {
  std::vector<std::string> lines;
  std::string current;
  char c;
  while (lines.size() < n && ::read(fd, &c, 1) == 1) {
    if (c == '\n') {
      lines.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  return lines;
}

}  // namespace

TEST_CASE("she-lab serve: prints where and how to reach it - password only as a file reference - stops on SIGTERM") {
  REQUIRE_MESSAGE(std::filesystem::exists(she_lab_binary()), (std::string("build she-lab first: ") + she_lab_binary()));
  she::test::TempDir tmp;
  const std::string dir = (tmp.path() / "lab").string();
  int out = -1;
  const int pid = spawn_she_lab({"serve", she::test::source_path("examples/lab/three-hosts.yaml"), "--dir", dir,
                                 "--address", "127.0.0.1", "--port", "0"},
                                out);
  she::test::ChildGuard guard{pid};
  auto lines = read_lines(out, 5);
  REQUIRE(lines.size() == 5);
  CHECK(lines[0].rfind("listening https://127.0.0.1:", 0) == 0);
  CHECK(lines[1] == "ca_file " + dir + "/ca.pem");
  CHECK(lines[2].rfind("ca_fingerprint SHA256:", 0) == 0);
  CHECK(lines[3] == "user admin@internal");
  CHECK(lines[4] == "password file:" + dir + "/engine-password");
  const std::string password = she::test::read_file(dir + "/engine-password");
  REQUIRE(password.size() > 10);
  CHECK(password.back() == '\n');
  for (const auto& l : lines) CHECK(l.find(password.substr(0, password.size() - 1)) == std::string::npos);
  CHECK((std::filesystem::status(dir + "/engine-password").permissions() & std::filesystem::perms::all) ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
  CHECK(lines[2].substr(15) == pem_sha256_fingerprint(she::test::read_file(dir + "/ca.pem")));

  const int port = std::stoi(lines[0].substr(lines[0].rfind(':') + 1));
  httplib::SSLClient c("127.0.0.1", port);
  c.set_ca_cert_path((dir + "/ca.pem").c_str());
  c.enable_server_certificate_verification(true);
  c.set_connection_timeout(5);
  auto res = c.Get("/ovirt-engine/services/health");
  REQUIRE(res);
  CHECK(res->body == "DB Up!Welcome to Health Status!");
  c.set_basic_auth("admin@internal", password.substr(0, password.size() - 1));
  res = c.Get("/ovirt-engine/api/hosts?search=name%3Dhost_4");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->body.find("<name>host_4</name>") != std::string::npos);

  ::kill(pid, SIGTERM);
  CHECK(she::test::wait_child(pid) == 0);
  guard.pid = -1;
  ::close(out);

  // A bad scenario: exit 3 with positioned errors, nothing served.
  she::test::write_file(tmp.path() / "bad.yaml", "scenario: bad\nhostz: []\n");
  auto r = she::test::run("'" + she_lab_binary() + "' serve '" + (tmp.path() / "bad.yaml").string() + "' 2>&1");
  CHECK(r.exit_code == 3);
  CHECK(r.output.find("bad.yaml:2:1: error[unknown-key]: unknown key 'hostz'") != std::string::npos);
}
