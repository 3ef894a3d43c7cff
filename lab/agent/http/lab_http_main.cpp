// she-lab-http: the lab agent's one request to the lab engine's /lab/
// control endpoints, in a process of its own.
//
//   she-lab-http SOCKET METHOD PATH   (the body on standard input)
//
// SOCKET is the lab engine's Unix socket for its agents (plain HTTP, in a
// directory only the lab's user can enter: LabEngineServer::agent_socket).
// Prints the status on the first line and the body after it; status 0 is a
// request that got no answer, the transport's error in place of the body.
// Why a process: the agent runs once for every command a lab host takes,
// and most take no request; linking cpp-httplib (OpenSSL's initialisation,
// brotli) into it cost every one of them about 4 ms, a third of a command.
// Why not HTTPS: a TLS handshake in a fresh process doubled the cost of
// each request (about 15 ms to 7), and a deploy makes three.
#include <httplib.h>
#include <sys/socket.h>

#include <iostream>
#include <iterator>
#include <string>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: she-lab-http SOCKET METHOD PATH (the body on standard input)\n";
    return 2;
  }
  const std::string socket = argv[1], method = argv[2], path = argv[3];
  const std::string body((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  auto answer = [](int status, const std::string& text) {
    std::cout << status << '\n' << text;
    std::cout.flush();
    return std::cout ? 0 : 1;
  };
  httplib::Client c(socket);
  c.set_address_family(AF_UNIX);
  c.set_connection_timeout(10);
  c.set_read_timeout(60);
  c.set_write_timeout(60);
  httplib::Result res = method == "POST" ? c.Post(path, body, "application/json") : c.Get(path);
  if (!res) return answer(0, httplib::to_string(res.error()));
  return answer(res->status, res->body);
}
