// she-lab-http: the lab agent's one HTTPS request to the lab engine's /lab/
// control endpoints, in a process of its own.
//
//   she-lab-http URL CAFILE METHOD PATH   (the body on standard input)
//
// Prints the status on the first line and the body after it; status 0 is a
// request that got no answer, the transport's error in place of the body.
// Why a process: the agent runs once for every command a lab host takes,
// and most take no request; linking cpp-httplib (OpenSSL's initialisation,
// brotli) into it cost every one of them about 4 ms, a third of a command.
#include <httplib.h>

#include <iostream>
#include <iterator>
#include <string>

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: she-lab-http URL CAFILE METHOD PATH (the body on standard input)\n";
    return 2;
  }
  const std::string url = argv[1], ca = argv[2], method = argv[3], path = argv[4];
  const std::string body((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  auto answer = [](int status, const std::string& text) {
    std::cout << status << '\n' << text;
    std::cout.flush();
    return std::cout ? 0 : 1;
  };
  httplib::Client c(url);
  if (!c.is_valid()) return answer(0, "not a lab URL: " + url);
  if (!ca.empty()) c.set_ca_cert_path(ca.c_str());
  c.enable_server_certificate_verification(true);
  c.set_connection_timeout(10);
  c.set_read_timeout(60);
  c.set_write_timeout(60);
  httplib::Result res = method == "POST" ? c.Post(path, body, "application/json") : c.Get(path);
  if (!res) return answer(0, httplib::to_string(res.error()));
  return answer(res->status, res->body);
}
