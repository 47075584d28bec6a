// hostile-helper: the system calls a hostile container would try that busybox has no applet for.
// tests/integration/hostile.bats compiles it statically and runs it in containers. Each call
// prints "<call>: ok" when the kernel let it through, else "<call>: <errno name>", and exits 0
// either way (the test decides what is expected).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kexec.h>
#include <linux/keyctl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char* errno_name(int e) {
  switch (e) {
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ENOSYS: return "ENOSYS";
    case ESRCH: return "ESRCH";
    case EINVAL: return "EINVAL";
    case ENOENT: return "ENOENT";
    case EROFS: return "EROFS";
    case EBADF: return "EBADF";
    case ENOEXEC: return "ENOEXEC";
    default: return strerror(e);
  }
}

static void report(const char* call, long rc) {
  if (rc >= 0) printf("%s: ok\n", call);
  else printf("%s: %s\n", call, errno_name(errno));
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: hostile-helper kexec|init_module|finit_module|keyctl|add_key|unshare_user|"
                    "unshare_mount|mount|raw_socket|packet_socket|ptrace PID|udpflood IP COUNT|swap A B\n");
    return 2;
  }
  const char* op = argv[1];
  if (!strcmp(op, "swap") && argc > 3) {
    // Exchanges the names A and B (say a directory and a symlink) atomically, for ever: the
    // fastest way a container can race a path lookup berth makes in a volume it shares.
    for (;;)
      if (syscall(SYS_renameat2, AT_FDCWD, argv[2], AT_FDCWD, argv[3], 2 /* RENAME_EXCHANGE */) < 0) {
        report("swap", -1);
        return 1;
      }
  }
  if (!strcmp(op, "udpflood") && argc > 3) {
    // COUNT DNS queries (A flood.test) to IP:53, as fast as the socket takes them.
    static const unsigned char query[] = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
                                          5, 'f', 'l', 'o', 'o', 'd', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1};
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(53)};
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (s < 0 || inet_pton(AF_INET, argv[2], &to.sin_addr) != 1) {
      report("udpflood", -1);
      return 1;
    }
    long count = atol(argv[3]), sent = 0;
    for (long i = 0; i < count; ++i)
      if (sendto(s, query, sizeof query, 0, (struct sockaddr*)&to, sizeof to) > 0) ++sent;
    printf("udpflood: sent %ld\n", sent);
    return 0;
  }
  if (!strcmp(op, "kexec")) {
    report("kexec_load", syscall(SYS_kexec_load, 0UL, 0UL, NULL, KEXEC_ARCH_DEFAULT));
    int fd = open("/proc/self/exe", O_RDONLY);
    report("kexec_file_load", syscall(SYS_kexec_file_load, fd, -1, 1UL, "", 0UL));
  } else if (!strcmp(op, "init_module")) {
    static char image[64];  // not an ELF module: a kernel that lets the call through says ENOEXEC
    report("init_module", syscall(SYS_init_module, image, sizeof image, ""));
  } else if (!strcmp(op, "finit_module")) {
    int fd = open("/proc/self/exe", O_RDONLY);
    report("finit_module", syscall(SYS_finit_module, fd, "", 0));
  } else if (!strcmp(op, "delete_module")) {
    report("delete_module", syscall(SYS_delete_module, "loop", O_NONBLOCK));
  } else if (!strcmp(op, "keyctl")) {
    report("keyctl", syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, "hostile"));
  } else if (!strcmp(op, "add_key")) {
    report("add_key", syscall(SYS_add_key, "user", "hostile", "x", 1, KEY_SPEC_SESSION_KEYRING));
  } else if (!strcmp(op, "unshare_user")) {
    report("unshare(CLONE_NEWUSER)", unshare(CLONE_NEWUSER));
  } else if (!strcmp(op, "unshare_mount")) {
    report("unshare(CLONE_NEWNS)", unshare(CLONE_NEWNS));
  } else if (!strcmp(op, "mount")) {
    report("mount", mount("none", "/mnt", "tmpfs", 0, NULL));
  } else if (!strcmp(op, "raw_socket")) {
    report("socket(AF_INET, SOCK_RAW)", socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
  } else if (!strcmp(op, "packet_socket")) {
    report("socket(AF_PACKET)", socket(AF_PACKET, SOCK_RAW, htons(3)));
  } else if (!strcmp(op, "ptrace") && argc > 2) {
    report("ptrace(PTRACE_ATTACH)", ptrace(PTRACE_ATTACH, atoi(argv[2]), NULL, NULL));
  } else {
    fprintf(stderr, "hostile-helper: unknown call '%s'\n", op);
    return 2;
  }
  return 0;
}
