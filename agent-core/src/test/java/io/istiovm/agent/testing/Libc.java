package io.istiovm.agent.testing;

import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Pointer;

/** The few libc calls the network test fixtures need and Java does not offer (setns, SO_ORIGINAL_DST). */
interface Libc extends Library {
    Libc INSTANCE = Native.load("c", Libc.class);

    int AF_INET = 2;
    int AF_INET6 = 10;
    int SOCK_STREAM = 1;
    int SOCK_CLOEXEC = 0x80000;
    int SOL_SOCKET = 1;
    int SO_REUSEADDR = 2;
    int SOL_IP = 0;
    int SOL_IPV6 = 41;
    int IPV6_V6ONLY = 26;
    /** IP_TRANSPARENT / IPV6_TRANSPARENT: accept connections TPROXY diverts (Envoy sets it in TPROXY mode). */
    int IP_TRANSPARENT = 19;
    int IPV6_TRANSPARENT = 75;
    /** SO_ORIGINAL_DST (linux/netfilter_ipv4.h) and IP6T_SO_ORIGINAL_DST have the same number. */
    int SO_ORIGINAL_DST = 80;
    /** SO_MARK: the firewall mark of a socket's packets (Envoy's original_src sets it in TPROXY mode). */
    int SO_MARK = 36;
    int O_RDONLY = 0;
    int O_CLOEXEC = 0x80000;
    int CLONE_NEWNET = 0x40000000;
    int SHUT_RDWR = 2;

    int socket(int domain, int type, int protocol);

    int setsockopt(int fd, int level, int name, int[] value, int length);

    int bind(int fd, byte[] address, int length);

    int listen(int fd, int backlog);

    int accept(int fd, Pointer address, Pointer length);

    int getsockopt(int fd, int level, int name, byte[] value, int[] length);

    int getsockname(int fd, byte[] address, int[] length);

    long write(int fd, byte[] buffer, long count);

    int connect(int fd, byte[] address, int length);

    long read(int fd, byte[] buffer, long count);

    int shutdown(int fd, int how);

    int close(int fd);

    int open(String path, int flags);

    int setns(int fd, int nstype);
}
