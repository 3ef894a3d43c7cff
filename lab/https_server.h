// The lab engine's HTTPS transport: cpp-httplib's SSLServer, except that it
// reads the body a request carries whatever its method. A real engine
// (Apache and WildFly in front of it) reads a GET's Content-Length body and
// keeps the connection; cpp-httplib reads bodies only for POST, PUT, PATCH
// and DELETE and would parse a GET's body as the next request line (a 400
// on a kept connection). libgovirt sends "<action></action>" with every GET.
#pragma once

#include <httplib.h>

namespace she::lab {

class HttpsServer : public httplib::SSLServer {
 public:
  using httplib::SSLServer::SSLServer;

 private:
  bool process_and_close_socket(socket_t sock) override;
};

}  // namespace she::lab
