// The least a relay in the place of the emulator's front or of pg-entra proxy can do, written in C, as the measuring
// stick for the Node relays: it speaks PostgreSQL's TLS negotiation on the side its job needs and copies bytes
// otherwise, one read and one write per message, in one thread on epoll. No protocol parsing, no authentication: what
// it costs is the extra hop (a process to wake and its syscalls per message) and the TLS it moves into itself.
//   copy-relay server <cert> <key> <unix socket>  TLS from the clients (the front's place), to PostgreSQL's socket
//   copy-relay client <ca> <host name> <port>     plain from the clients (the proxy's place), verified TLS upstream
// It listens on 127.0.0.1, on a port the kernel picks, printed on stdout. Handshakes block the loop, and a write
// waits for room: fine for a benchmark, not a general-purpose relay. With a new connection per transaction its
// handshakes wait on each other, so there it measures a little below what a relay in C could do.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

enum { MAX_FD = 65536, EVENTS = 64 };
static const unsigned char SSL_REQUEST[8] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f };

struct end {
  int peer;  // the other socket of the pair, or -1
  SSL *tls;  // this socket's TLS, when it has one
};
static struct end ends[MAX_FD];
static SSL_CTX *context;
static int server_mode;
static char **target;

static struct sockaddr_in loopback(int port) {
  struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons(port) };
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

static int read_fully(int fd, void *buffer, size_t length) {
  for (size_t got = 0; got < length;) {
    ssize_t n = read(fd, (char *)buffer + got, length - got);
    if (n <= 0) return -1;
    got += n;
  }
  return 0;
}

static void wait_for_room(int fd) {
  struct pollfd room = { .fd = fd, .events = POLLOUT };
  poll(&room, 1, -1);
}

static int write_fully(int fd, SSL *tls, const char *buffer, size_t length) {
  for (size_t sent = 0; sent < length;) {
    if (tls) {
      int n = SSL_write(tls, buffer, length);  // after WANT_WRITE, the same arguments again
      if (n > 0) return 0;
      if (SSL_get_error(tls, n) != SSL_ERROR_WANT_WRITE) return -1;
    } else {
      ssize_t n = write(fd, buffer + sent, length - sent);
      if (n > 0) {
        sent += n;
        continue;
      }
      if (n == 0 || errno != EAGAIN) return -1;
    }
    wait_for_room(fd);
  }
  return 0;
}

/** Bytes read, 0 for nothing yet (a TLS record that held no data, such as a session ticket), -1 for the end. */
static int read_some(int fd, SSL *tls, char *buffer, size_t length) {
  if (tls) {
    int n = SSL_read(tls, buffer, length);
    if (n > 0) return n;
    return SSL_get_error(tls, n) == SSL_ERROR_WANT_READ ? 0 : -1;
  }
  ssize_t n = read(fd, buffer, length);
  if (n > 0) return n;
  return n < 0 && errno == EAGAIN ? 0 : -1;
}

static SSL *tls_over(int fd) {
  SSL *tls = SSL_new(context);
  SSL_set_fd(tls, fd);
  return tls;
}

/** The front's place: answer the client's SSLRequest, then TLS; the server is PostgreSQL's unix socket. */
static int open_server_side(int client, SSL **client_tls) {
  unsigned char request[8];
  if (read_fully(client, request, sizeof request) != 0 || memcmp(request, SSL_REQUEST, 8) != 0) return -1;
  if (write(client, "S", 1) != 1) return -1;
  *client_tls = tls_over(client);
  if (SSL_accept(*client_tls) != 1) return -1;
  int upstream = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un address = { .sun_family = AF_UNIX };
  snprintf(address.sun_path, sizeof address.sun_path, "%s", target[4]);
  if (connect(upstream, (struct sockaddr *)&address, sizeof address) != 0) {
    close(upstream);
    return -1;
  }
  return upstream;
}

/** The proxy's place: the client speaks plain; ask the server for TLS and verify its certificate and name. */
static int open_client_side(SSL **upstream_tls) {
  int upstream = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in address = loopback(atoi(target[4]));
  if (connect(upstream, (struct sockaddr *)&address, sizeof address) != 0) goto fail;
  char answer;
  if (write(upstream, SSL_REQUEST, 8) != 8 || read(upstream, &answer, 1) != 1 || answer != 'S') goto fail;
  *upstream_tls = tls_over(upstream);
  struct in_addr ip;
  if (inet_pton(AF_INET, target[3], &ip) == 1) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(*upstream_tls), target[3]);
  } else {
    SSL_set_tlsext_host_name(*upstream_tls, target[3]);
    SSL_set1_host(*upstream_tls, target[3]);
  }
  if (SSL_connect(*upstream_tls) != 1 || SSL_get_verify_result(*upstream_tls) != X509_V_OK) goto fail;
  return upstream;
fail:
  close(upstream);
  return -1;
}

static void watch(int epoll, int fd) {
  struct epoll_event event = { .events = EPOLLIN, .data.fd = fd };
  epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event);
}

static void close_end(int fd) {
  if (ends[fd].tls) SSL_free(ends[fd].tls);
  ends[fd] = (struct end){ .peer = -1 };
  close(fd);
}

static void close_pair(int fd) {
  int other = ends[fd].peer;
  close_end(fd);
  if (other >= 0) close_end(other);
}

static void accept_client(int epoll, int listener) {
  int client = accept(listener, NULL, NULL);
  if (client < 0) return;
  SSL *client_tls = NULL, *upstream_tls = NULL;
  int upstream = server_mode ? open_server_side(client, &client_tls) : open_client_side(&upstream_tls);
  if (upstream < 0 || client >= MAX_FD || upstream >= MAX_FD) {
    if (client_tls) SSL_free(client_tls);
    if (upstream_tls) SSL_free(upstream_tls);
    close(client);
    if (upstream >= 0) close(upstream);
    return;
  }
  int on = 1;
  setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  setsockopt(upstream, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  // A read must never wait: the server's session tickets arrive with no data, and blocking on them would stall
  // every other connection, and this one's own client, until the server gives up
  fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK);
  fcntl(upstream, F_SETFL, fcntl(upstream, F_GETFL) | O_NONBLOCK);
  ends[client] = (struct end){ .peer = upstream, .tls = client_tls };
  ends[upstream] = (struct end){ .peer = client, .tls = upstream_tls };
  watch(epoll, client);
  watch(epoll, upstream);
}

static void copy(int fd) {
  static char buffer[65536];
  struct end *from = &ends[fd], *to = &ends[from->peer];
  do {
    int got = read_some(fd, from->tls, buffer, sizeof buffer);
    if (got == 0) return;
    if (got < 0 || write_fully(from->peer, to->tls, buffer, got) != 0) {
      close_pair(fd);
      return;
    }
  } while (from->tls && SSL_pending(from->tls) > 0);  // records already read: epoll will not say so
}

static int usage(void) {
  fprintf(stderr, "usage: copy-relay server <cert> <key> <unix socket> | client <ca> <host name> <port>\n");
  return 2;
}

int main(int argc, char **argv) {
  if (argc != 5) return usage();
  target = argv;
  server_mode = strcmp(argv[1], "server") == 0;
  if (!server_mode && strcmp(argv[1], "client") != 0) return usage();
  context = SSL_CTX_new(server_mode ? TLS_server_method() : TLS_client_method());
  int loaded = server_mode ? SSL_CTX_use_certificate_chain_file(context, argv[2]) == 1 &&
                               SSL_CTX_use_PrivateKey_file(context, argv[3], SSL_FILETYPE_PEM) == 1
                           : SSL_CTX_load_verify_locations(context, argv[2], NULL) == 1;
  if (!loaded) {
    fprintf(stderr, "copy-relay: cannot load %s\n", argv[2]);
    return 1;
  }
  if (!server_mode) SSL_CTX_set_verify(context, SSL_VERIFY_PEER, NULL);
  for (int fd = 0; fd < MAX_FD; fd++) ends[fd].peer = -1;
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in address = loopback(0);
  socklen_t length = sizeof address;
  if (bind(listener, (struct sockaddr *)&address, sizeof address) != 0 || listen(listener, 128) != 0 ||
      getsockname(listener, (struct sockaddr *)&address, &length) != 0) {
    perror("copy-relay: listen");
    return 1;
  }
  printf("%d\n", ntohs(address.sin_port));
  fflush(stdout);
  int epoll = epoll_create1(0);
  watch(epoll, listener);
  struct epoll_event events[EVENTS];
  for (;;) {
    int ready = epoll_wait(epoll, events, EVENTS, -1);
    for (int i = 0; i < ready; i++) {
      int fd = events[i].data.fd;
      if (fd == listener) accept_client(epoll, listener);
      else if (ends[fd].peer >= 0) copy(fd);
    }
  }
}
